/**
 * Graft's coefficient searches on Apache Spark: the driver runs the optimiser ({@link dev.graft.search.CmaEs}) and
 * sends each generation's points as Spark tasks; every executor opens the problem once
 * ({@link dev.graft.search.SearchProblem}: the model pool from shared storage, one ONNX Runtime session) and
 * scores the points it is sent. {@link dev.graft.spark.SparkSearch} is {@code graft search} for
 * {@code spark-submit}. No other Graft module depends on this one or on Spark.
 */
package dev.graft.spark;
