/**
 * Recipes: YAML files read in one place ({@link dev.graft.recipe.RecipeFile}) and dispatched by
 * {@code merge_method} through one registry ({@link dev.graft.recipe.Recipes}) of
 * {@link dev.graft.recipe.RecipeKind}s, each returning a typed {@link dev.graft.recipe.Recipe}.
 */
package dev.graft.recipe;
