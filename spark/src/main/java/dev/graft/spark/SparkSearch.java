package dev.graft.spark;

import dev.graft.cli.Main;
import java.io.PrintWriter;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;

/**
 * {@code graft search} on Apache Spark, for {@code spark-submit}: the same arguments and outputs as
 * {@code graft search} (the README's), with each generation's candidates scored as Spark tasks
 * ({@link SparkEngine}) instead of local threads ({@code --threads} is not used). Without a master set by
 * {@code spark-submit} it runs on {@code local[*]}. With {@code --conf spark.graft.ship=FOLDER} the executors read
 * the recipe, the task file and the models from a copy of that folder which the driver sends them
 * ({@link SparkEngine#shipping}), instead of from shared storage. Model Tinting ({@code --objective tinting})
 * alternates head fits with its coefficient searches and runs on the driver.
 */
public final class SparkSearch {
    private SparkSearch() {
    }

    public static void main(String[] args) {
        SparkConf conf = new SparkConf().setAppName("graft search");
        if (!conf.contains("spark.master")) {
            conf.setMaster("local[*]");
        }
        int status;
        try (JavaSparkContext spark = new JavaSparkContext(conf)) {
            status = run(spark, new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
        }
        System.exit(status);
    }

    /** Runs {@code graft search ARGS} with candidates scored on {@code spark}; returns the exit status. */
    public static int run(JavaSparkContext spark, PrintWriter out, PrintWriter err, String... args) {
        String ship = spark.getConf().get("spark.graft.ship", null);
        return Main.search(problem -> ship == null ? new SparkEngine(spark, problem)
                : SparkEngine.shipping(spark, problem, java.nio.file.Path.of(ship)), out, err, args);
    }
}
