/**
 * The one rewrite pipeline: an operation describes its output as a {@link dev.graft.exec.RewritePlan} (edited
 * template graph, one lazy {@link dev.graft.exec.TensorJob} per output tensor declaring its memory, typed
 * provenance), and {@link dev.graft.exec.Rewriter} computes the jobs in parallel under a true memory budget
 * ({@link dev.graft.exec.StreamingExecutor}) and writes them atomically. Thread counts are decided in
 * {@link dev.graft.exec.Threads}.
 */
package dev.graft.exec;
