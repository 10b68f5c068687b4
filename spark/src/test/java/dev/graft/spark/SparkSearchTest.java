package dev.graft.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.search.CoefficientBlocks;
import dev.graft.search.CoefficientSearch;
import dev.graft.search.SearchProblem;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Searches on the digits tasks ({@code examples/recipes/digits}) scored as Spark tasks on {@code local[2]}: the same
 * result as the local engine for the same seed, {@code graft search}'s outputs through {@link SparkSearch}, and an
 * executor's error reaching the driver.
 */
class SparkSearchTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    static JavaSparkContext spark;

    @TempDir
    Path dir;

    @BeforeAll
    static void startSpark() {
        spark = new JavaSparkContext(new SparkConf().setMaster("local[2]").setAppName("graft-spark-test")
                .set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1"));
    }

    @AfterAll
    static void stopSpark() {
        spark.close();
    }

    private static SearchProblem layerWise() {
        return SearchProblem.of(DIGITS.resolve("task_arithmetic.yaml"), DIGITS.resolve("tasks.yaml"))
                .withGranularity(CoefficientBlocks.Granularity.LAYER, 1);
    }

    private CoefficientSearch.Result search(SearchProblem problem, CoefficientSearch.Engine engine,
                                            String work) throws Exception {
        try (SearchProblem.Opened opened = problem.open(Files.createDirectories(dir.resolve(work)))) {
            return opened.search().generations(3).population(6).seed(7).engine(engine).run();
        }
    }

    /** Every generation's costs and the best point are those of the local engine, number for number. */
    @Test
    void sparkFindsWhatTheLocalEngineFinds() throws Exception {
        SearchProblem problem = layerWise();
        CoefficientSearch.Result local = search(problem, null, "local");
        CoefficientSearch.Result onSpark = search(problem, new SparkEngine(spark, problem), "spark");
        assertThat(onSpark.generations()).hasSize(4);
        assertThat(onSpark.coefficients()).containsExactly(local.coefficients());
        assertThat(onSpark.cost()).isEqualTo(local.cost());
        for (int g = 0; g < local.generations().size(); g++) {
            CoefficientSearch.Generation a = local.generations().get(g);
            CoefficientSearch.Generation b = onSpark.generations().get(g);
            assertThat(b.bestCost()).as("generation %d", g).isEqualTo(a.bestCost());
            assertThat(b.meanCost()).as("generation %d", g).isEqualTo(a.meanCost());
        }
        assertThat(local.cost()).isLessThanOrEqualTo(local.generations().get(0).bestCost());
    }

    /** A genome search (a session per candidate) scores the same on Spark as here. */
    @Test
    void aGenomeProblemScoresTheSameOnSpark() throws Exception {
        SearchProblem problem = SearchProblem.of(DIGITS.resolve("ties.yaml"), DIGITS.resolve("tasks.yaml"))
                .withGenome(List.of("weight", "density"), 1);
        double[][] points = {{0.2, 0.5, 0.9, 0.3, 0.6, 1.0}, {1, 1, 1, 1, 1, 1}, {0.5, 0.1, 0.7, 0.9, 0.2, 0.4}};
        try (SearchProblem.Opened opened = problem.open(Files.createDirectories(dir.resolve("genome")))) {
            double[] onSpark = new SparkEngine(spark, problem).costs(points);
            for (int k = 0; k < points.length; k++) {
                assertThat(onSpark[k]).as("point %d", k).isEqualTo(opened.search().cost(points[k]));
            }
        }
    }

    /**
     * A folder shipped to the executors (zipped, unpacked by Spark): they open the problem from their copy (paths
     * rebased under Spark's file root, not the driver's folder) and score as here; a recipe outside the folder is
     * refused.
     */
    @Test
    void aShippedFolderIsScoredFromTheExecutorsCopy() throws Exception {
        Path pool = Files.createDirectories(dir.resolve("pool"));
        try (var files = Files.list(DIGITS)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (f.toString().endsWith(".onnx") || f.toString().endsWith(".npy") || f.toString().endsWith(".yaml")) {
                    Files.copy(f, pool.resolve(f.getFileName()));
                }
            }
        }
        SearchProblem problem = SearchProblem.of(pool.resolve("task_arithmetic.yaml"), pool.resolve("tasks.yaml"));
        SparkEngine shipped = SparkEngine.shipping(spark, problem, pool);
        SearchProblem copy = SparkEngine.rebased(problem, pool.toAbsolutePath().toString(),
                org.apache.spark.SparkFiles.get("pool.zip"));
        assertThat(Path.of(copy.recipe())).isNotEqualTo(Path.of(problem.recipe())).startsWith(
                Path.of(org.apache.spark.SparkFiles.getRootDirectory()))
                .endsWith(Path.of("pool.zip", "task_arithmetic.yaml"));
        double[][] points = {{0.3, 0.3, 0.3}, {0.9, 0.1, 0.5}};
        double[] onSpark = shipped.costs(points);
        assertThat(Path.of(copy.recipe())).exists(); // fetched by the executors
        try (SearchProblem.Opened opened = problem.open(Files.createDirectories(dir.resolve("here")))) {
            for (int k = 0; k < points.length; k++) {
                assertThat(onSpark[k]).isEqualTo(opened.search().cost(points[k]));
            }
        }
        SearchProblem outside = SearchProblem.of(DIGITS.resolve("task_arithmetic.yaml"), pool.resolve("tasks.yaml"));
        assertThatThrownBy(() -> SparkEngine.shipping(spark, outside, pool))
                .isInstanceOf(dev.graft.InvalidSettingException.class).hasMessageContaining("is not inside");
    }

    /** {@code graft search} through Spark writes the recipe, model, log and plot, and resumes from the log. */
    @Test
    void theCommandWritesItsOutputs() {
        Path out = dir.resolve("out");
        Run r = run("../examples/recipes/digits/task_arithmetic.yaml", "--tasks", "../examples/recipes/digits/tasks.yaml",
                "--generations", "2", "-o", out.toString());
        assertThat(r.exit).as(r.err).isZero();
        assertThat(r.out).contains("searching 3 numbers (task-wise coefficients)", "generation 2: ", "best cost");
        assertThat(out.toFile().list()).containsExactlyInAnyOrder("recipe.yaml", "model.onnx", "search.json",
                "convergence.svg");
        Run resumed = run("../examples/recipes/digits/task_arithmetic.yaml", "--tasks",
                "../examples/recipes/digits/tasks.yaml", "--generations", "3", "-o", out.toString());
        assertThat(resumed.exit).as(resumed.err).isZero();
        assertThat(resumed.out).contains("generation 3: ").doesNotContain("generation 2: ");
    }

    /** A missing recipe is refused by name before anything is sent to Spark, and no output folder is left. */
    @Test
    void aMissingRecipeIsNamed() {
        Path out = dir.resolve("none");
        Run r = run(dir.resolve("missing.yaml").toString(), "--tasks", "../examples/recipes/digits/tasks.yaml",
                "-o", out.toString());
        assertThat(r.exit).isEqualTo(1);
        assertThat(r.err).startsWith("graft: error: ").contains("missing.yaml");
        assertThat(out).doesNotExist();
    }

    /** An executor that cannot open the problem (its files are not where the driver said) fails the search by name. */
    @Test
    void anExecutorsErrorReachesTheDriver() {
        SearchProblem gone = SearchProblem.of(dir.resolve("gone.yaml"), DIGITS.resolve("tasks.yaml"));
        assertThatThrownBy(() -> new SparkEngine(spark, gone).costs(new double[][] {{0.3, 0.3, 0.3}}))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("Spark could not score the candidates")
                .hasMessageContaining("gone.yaml");
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = SparkSearch.run(spark, new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(exit, out.toString(), err.toString());
    }
}
