package dev.graft.recipe;

import java.util.Set;

/**
 * One kind of recipe: the {@code merge_method} values it reads, and its parser. Registered as a
 * {@link java.util.ServiceLoader} provider ({@code META-INF/services/dev.graft.recipe.RecipeKind}); a new kind
 * is one class and one line there.
 */
public interface RecipeKind {
    /** The {@code merge_method} values this kind reads (distinct from every other kind's). */
    Set<String> names();

    /**
     * The typed recipe of {@code recipe}.
     *
     * @throws dev.graft.RecipeException naming the key that is unknown, missing or of the wrong kind
     */
    Recipe parse(RecipeFile recipe);
}
