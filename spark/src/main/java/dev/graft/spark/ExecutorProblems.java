package dev.graft.spark;

import dev.graft.onnx.TemporaryFolder;
import dev.graft.search.SearchProblem;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The problems this JVM (a Spark executor, or the driver in local mode) has open, one per description: opened on
 * the first point sent, kept while the JVM lives, so that an executor reads the model pool and builds its ONNX
 * Runtime sessions once, however many points it scores. Tasks running at once on an executor share them (a session
 * runs concurrent runs).
 */
final class ExecutorProblems {
    private static final Map<SearchProblem, SearchProblem.Opened> OPEN = new ConcurrentHashMap<>();

    private ExecutorProblems() {
    }

    /** The cost of point {@code x} of {@code problem}, opening the problem here if it is not open yet. */
    static double cost(SearchProblem problem, double[] x) {
        return OPEN.computeIfAbsent(problem, ExecutorProblems::open).search().cost(x);
    }

    private static SearchProblem.Opened open(SearchProblem problem) {
        TemporaryFolder work = TemporaryFolder.create("graft-spark-");
        SearchProblem.Opened opened;
        try {
            opened = problem.open(work.path());
        } catch (RuntimeException e) {
            work.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            opened.close();
            work.close();
        }, "graft-spark-close"));
        return opened;
    }
}
