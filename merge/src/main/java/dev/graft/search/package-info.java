/**
 * Learning how to merge instead of guessing: a search over the numbers of a merge, each candidate scored on the
 * user's tasks ({@link dev.graft.eval.Task}). A {@link dev.graft.search.SearchSpace} says what the numbers are —
 * task-vector coefficients per task, layer, tensor or layer group ({@link dev.graft.search.CoefficientModel}, whose
 * candidates are mixed by one ONNX Runtime run and fed uncopied to the network, so no file or session is made per
 * candidate) or any recipe's weights, densities, λ and t ({@link dev.graft.search.RecipeGenome}); CMA-ES in ask/tell
 * form ({@link dev.graft.search.CmaEs}) proposes them and {@link dev.graft.search.CoefficientSearch} scores them by
 * AdaMerging's entropy, aTLAS's cross-entropy or the tasks' metrics, with checkpoints to resume from, a
 * generation's points scored by local threads or on another {@link dev.graft.search.CoefficientSearch.Engine}
 * (the {@code graft-spark} module's Spark tasks, each rebuilding the {@link dev.graft.search.SearchProblem});
 * {@link dev.graft.search.Tinting} also refits each task's head; {@link dev.graft.search.SubsetAverages} scores the
 * averages of many subsets of a model pool. The best point is written as the recipe that merges it
 * ({@link dev.graft.search.SearchRecipe}), so {@code graft merge} reproduces it. Everything is derivative-free:
 * ONNX Runtime's Java build cannot train.
 */
package dev.graft.search;
