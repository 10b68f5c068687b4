package dev.graft.spark;

import dev.graft.examples.TextTasks;
import dev.graft.search.CoefficientSearch;
import dev.graft.search.SearchProblem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * Candidates per second of one search on the text tasks (bge-small-en-v1.5 and its five fine-tunes, each task's
 * first {@code -Dsearch.samples} validation texts, default 24), by engine: the local engine on one thread (the
 * baseline), Spark {@code local[1]} and {@code local[2]}; every engine's search is the same one (seed 0) and must
 * find the same result. Each engine's problem is opened and warmed before it is timed (the one-off open is printed
 * apart). Run from {@code spark/}, not a test:
 * {@code java ADD_OPENS -cp CLASSPATH dev.graft.spark.SparkBenchmark MODELS_DIR [WORK_DIR]} (README, "On Spark").
 */
public final class SparkBenchmark {
    private SparkBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Path models = Path.of(args[0]);
        Path work = Files.createDirectories(Path.of(args.length > 1 ? args[1] : "target/spark-benchmark"));
        int samples = Integer.getInteger("search.samples", 24);
        int generations = Integer.getInteger("search.generations", 2);
        int population = Integer.getInteger("search.population", 8);
        SearchProblem problem = textProblem(models, work).withSamples(samples);
        int candidates = 1 + generations * population;
        System.out.printf(Locale.ROOT, "text tasks, %d samples per task, %d generations of %d: %d candidates%n",
                samples, generations, population, candidates);
        double[] local;
        double localSeconds;
        try (SearchProblem.Opened opened = problem.open(Files.createDirectories(work.resolve("local")))) {
            long t0 = System.nanoTime();
            opened.search().cost(opened.space().initial());
            System.out.printf(Locale.ROOT, "local open and first candidate: %.1f s%n", (System.nanoTime() - t0) / 1e9);
            long t1 = System.nanoTime();
            local = run(opened, null, generations, population);
            localSeconds = (System.nanoTime() - t1) / 1e9;
        }
        report("local engine, 1 thread", localSeconds, candidates, localSeconds);
        for (String master : new String[] {"local[1]", "local[2]"}) {
            try (JavaSparkContext spark = new JavaSparkContext(new SparkConf().setMaster(master)
                    .setAppName("graft-spark-benchmark").set("spark.ui.enabled", "false"));
                 SearchProblem.Opened opened = problem.open(Files.createDirectories(work.resolve(master)))) {
                SparkEngine engine = new SparkEngine(spark, problem);
                long t0 = System.nanoTime();
                engine.costs(new double[][] {opened.space().initial()}); // the executors open the problem
                System.out.printf(Locale.ROOT, "%s open and first candidate: %.1f s (%d executor slots)%n", master,
                        (System.nanoTime() - t0) / 1e9, spark.defaultParallelism());
                long t1 = System.nanoTime();
                double[] found = run(opened, engine, generations, population);
                double seconds = (System.nanoTime() - t1) / 1e9;
                report("Spark " + master, seconds, candidates, localSeconds);
                System.out.printf(Locale.ROOT, "  overhead against the local engine: %+.3f s a candidate; same result: %s%n",
                        (seconds - localSeconds) / candidates, Arrays.equals(found, local));
            }
        }
    }

    private static double[] run(SearchProblem.Opened opened, CoefficientSearch.Engine engine, int generations,
                                int population) {
        CoefficientSearch.Result r = opened.search().generations(generations).population(population).seed(0)
                .engine(engine).run();
        double[] out = Arrays.copyOf(r.coefficients(), r.coefficients().length + 1);
        out[out.length - 1] = r.cost();
        return out;
    }

    private static void report(String engine, double seconds, int candidates, double baseline) {
        System.out.printf(Locale.ROOT, "%s: %.1f s, %.2f s a candidate, %.3f candidates/s, %.2fx the local engine's "
                + "time%n", engine, seconds, seconds / candidates, candidates / seconds, seconds / baseline);
    }

    /** A recipe of the base and the five rebuilt fine-tunes, and a task file of the validation splits, in work. */
    private static SearchProblem textProblem(Path models, Path work) throws IOException {
        Path folder = Path.of("../examples/recipes/text-tasks").toAbsolutePath().normalize();
        Path base = models.resolve("bge-small-en-v1.5.onnx").toAbsolutePath();
        Path tokenizer = models.resolve("bge-small-en-v1.5-tokenizer.json").toAbsolutePath();
        TextTasks text = new TextTasks(folder, base, tokenizer);
        StringBuilder recipe = new StringBuilder("merge_method: task_arithmetic\nbase_model: " + base + "\nmodels:\n");
        for (String task : TextTasks.NAMES) {
            Path tuned = work.resolve(task + ".onnx").toAbsolutePath();
            if (!Files.exists(tuned)) {
                text.rebuild(task, tuned);
            }
            recipe.append("  - model: ").append(tuned).append("\n    parameters: {weight: 0.3}\n");
        }
        Path recipeFile = work.resolve("text.yaml");
        Path taskFile = work.resolve("tasks.yaml");
        Files.writeString(recipeFile, recipe);
        text.writeTaskFile("validation", java.util.Map.of(), taskFile);
        return SearchProblem.of(recipeFile, taskFile);
    }
}
