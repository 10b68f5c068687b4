/**
 * Per-tensor merge methods (linear, task arithmetic, TIES, DARE, DELLA, breadcrumbs, SLERP, NuSLERP, model
 * stock, Karcher mean), each a small class citing its paper; {@link dev.graft.merge.MergeMethods} is their
 * registry by name; {@link dev.graft.merge.MergeRecipe} reads mergekit-shaped recipes.
 */
package dev.graft.merge;
