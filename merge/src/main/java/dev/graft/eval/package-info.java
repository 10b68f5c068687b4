/**
 * Evaluating merges on the user's tasks: a {@link dev.graft.eval.Task} (data, output, pooling, head, metric) read
 * from a task file or built in Java, {@link dev.graft.eval.Evaluation} of {@link dev.graft.eval.Candidate}s (files,
 * weights changed in memory, ensembles) into a models × tasks {@link dev.graft.eval.EvaluationReport} (table, JSON,
 * SVG chart); output similarity on probe inputs, linear mode connectivity along the interpolation path, and SVG line
 * plots of the results.
 */
package dev.graft.eval;
