package dev.graft.spark;

import dev.graft.search.CoefficientSearch;
import dev.graft.search.SearchProblem;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Scores a generation's points as Spark tasks, one task per point: the driver sends the problem's description and
 * the point, and the executor scores it on the problem it keeps open ({@link ExecutorProblems}), the
 * {@link CoefficientSearch#cost} a local search computes, so that a search with the same seed finds the same
 * result on Spark as on one machine. Only the numbers travel; the models and the task data are read by each
 * executor from the paths in the problem, which must be the same on every machine (shared storage).
 */
public final class SparkEvaluator implements CoefficientSearch.Evaluator {
    private final JavaSparkContext spark;
    private final SearchProblem problem;

    /** Scores the points of {@code problem} as tasks of {@code spark}. */
    public SparkEvaluator(JavaSparkContext spark, SearchProblem problem) {
        this.spark = spark;
        this.problem = problem;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalStateException with the executor's error (a missing model, say) if a task failed
     */
    @Override
    public double[] costs(double[][] points) {
        SearchProblem p = problem; // the task captures the description, not this evaluator and its context
        List<Double> costs;
        try {
            costs = spark.parallelize(Arrays.asList(points), points.length)
                    .map(x -> ExecutorProblems.cost(p, x))
                    .collect();
        } catch (Exception e) { // Spark throws its checked SparkException from Scala, undeclared
            if (e instanceof RuntimeException r && !(r.getCause() instanceof SparkException)) {
                throw r;
            }
            throw new IllegalStateException("Spark could not score the candidates: " + firstLine(e), e);
        }
        return costs.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
