package dev.graft.spark;

import dev.graft.InvalidSettingException;
import dev.graft.search.CoefficientSearch;
import dev.graft.search.SearchProblem;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Scores a generation's points as Spark tasks, one task per point: the driver sends the problem's description and
 * the point, and the executor scores it on the problem it keeps open ({@link ExecutorProblems}), the
 * {@link CoefficientSearch#cost} a local search computes, so that a search with the same seed finds the same
 * result on Spark as on one machine. Only the numbers travel; the models and the task data are read by each
 * executor from the paths in the problem, which must be the same on every machine (shared storage), or, for a
 * pool small enough to copy, from a folder the driver ships to every executor ({@link #shipping}).
 */
public final class SparkEngine implements CoefficientSearch.Engine {
    private final JavaSparkContext spark;
    private final SearchProblem problem;
    private final String shipped; // the shipped folder's path on the driver, or null

    /** Scores the points of {@code problem} as tasks of {@code spark}, its files read where the problem says. */
    public SparkEngine(JavaSparkContext spark, SearchProblem problem) {
        this(spark, problem, null);
    }

    private SparkEngine(JavaSparkContext spark, SearchProblem problem, String shipped) {
        this.spark = spark;
        this.problem = problem;
        this.shipped = shipped;
    }

    /**
     * Scores the points of {@code problem} on executors that read its files from a copy of {@code folder} the driver
     * sends them: the folder zipped into a temporary {@code NAME.zip}, given to {@code SparkContext.addArchive}, which
     * every executor fetches and unpacks once ({@code addFile} of a local folder works only on a local master).
     * {@code folder} must hold the recipe, the task file and every file they name, named by relative paths.
     *
     * @throws InvalidSettingException if the recipe or the task file is not inside {@code folder}
     * @throws dev.graft.GraftIoException if the folder cannot be zipped
     */
    public static SparkEngine shipping(JavaSparkContext spark, SearchProblem problem, Path folder) {
        Path root = folder.toAbsolutePath().normalize();
        for (String file : List.of(problem.recipe(), problem.tasks())) {
            if (!Path.of(file).startsWith(root)) {
                throw new InvalidSettingException(file + " is not inside " + root + ", the folder shipped to the "
                        + "executors: put the recipe, the task file and every file they name in it");
            }
        }
        spark.sc().addArchive(ShippedFolder.zip(root).toString());
        return new SparkEngine(spark, problem, root.toString());
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalStateException with the executor's error (a missing model, say) if a task failed
     */
    @Override
    public double[] costs(double[][] points) {
        SearchProblem p = problem; // the task captures the description, not this engine and its context
        String from = shipped;
        List<Double> costs;
        try {
            costs = spark.parallelize(Arrays.asList(points), points.length)
                    .map(x -> ExecutorProblems.cost(from == null ? p
                            : rebased(p, from, SparkFiles.get(ShippedFolder.archiveName(Path.of(from)))), x))
                    .collect();
        } catch (Exception e) { // Spark throws its checked SparkException from Scala, undeclared
            if (e instanceof RuntimeException r && !(r.getCause() instanceof SparkException)) {
                throw r;
            }
            throw new IllegalStateException("Spark could not score the candidates: " + firstLine(e), e);
        }
        return costs.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** {@code p} with its recipe and task file under {@code to} where they were under {@code from}. */
    static SearchProblem rebased(SearchProblem p, String from, String to) {
        Path root = Path.of(from);
        Path target = Path.of(to);
        return new SearchProblem(target.resolve(root.relativize(Path.of(p.recipe()))).toString(),
                target.resolve(root.relativize(Path.of(p.tasks()))).toString(), p.genome(), p.granularity(),
                p.groups(), p.objective(), p.samples());
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
