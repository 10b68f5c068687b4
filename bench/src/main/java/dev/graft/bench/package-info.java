/**
 * Benchmarks (not tests): Graft's throughput and memory against baselines measured in the same run.
 */
package dev.graft.bench;
