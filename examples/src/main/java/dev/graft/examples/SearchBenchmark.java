package dev.graft.examples;

import dev.graft.eval.Candidate;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Task;
import dev.graft.search.CoefficientBlocks;
import dev.graft.search.CoefficientModel;
import dev.graft.search.CoefficientSearch;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Learned merge coefficients on a multi-task benchmark ({@link TaskBenchmark}'s suites): AdaMerging (entropy of the
 * predictions on the validation split's inputs, no labels) and aTLAS-style supervised search (cross-entropy on the
 * validation split's labels), task-wise and layer-wise, each found by CMA-ES on validation and scored on the test
 * split beside task arithmetic at the searches' starting point (λ = 0.3).
 *
 * <p>Run from {@code examples/}: {@code java dev.graft.examples.SearchBenchmark digits [WORK_DIR]},
 * {@code … text MODELS_DIR [WORK_DIR]} ({@code -Dsearch.objectives=entropy,supervised},
 * {@code -Dsearch.granularities=task,layer}, {@code -Dsearch.generations=N} choose the searches; objective
 * {@code atlasK} is aTLAS on the first K training samples of each text task's classes, {@code tinting} Model
 * Tinting; {@code -Dsearch.samples=N} scores candidates on each task's first N samples, {@code -Dsearch.groups=G}
 * sets group-wise's groups, {@code -Dsearch.confident=SHARE} Tinting++'s share of samples), or {@code … strategies MODELS_DIR [WORK_DIR]} (candidates per second by how
 * candidates are run, {@link #strategies}).
 */
public final class SearchBenchmark {
    private SearchBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        if (args[0].equals("strategies")) {
            strategies(Path.of(args[1]), Files.createDirectories(Path.of(args.length > 2 ? args[2]
                    : "target/search-strategies")));
            return;
        }
        boolean digits = args[0].equals("digits");
        int given = digits ? 1 : 2;
        Path work = Files.createDirectories(Path.of(args.length > given ? args[given]
                : "target/" + (digits ? "digits-search" : "text-search")));
        TaskBenchmark.Suite suite = digits ? TaskBenchmark.digits(Path.of("recipes/digits"))
                : TaskBenchmark.text(Path.of(args[1]), work);
        int generations = Integer.getInteger("search.generations", digits ? 40 : 10);
        List<String> chosenObjectives = List.of(System.getProperty("search.objectives",
                digits ? "entropy,supervised,tinting" : "entropy,supervised").split(",")); // also atlasK (text)
        List<String> chosenBlocks = List.of(System.getProperty("search.granularities", "task,layer").split(","));
        List<Candidate> rows = new ArrayList<>();
        rows.add(Candidate.of("pretrained", suite.base()));
        List<Path> models = new ArrayList<>(suite.fineTuned().values());
        List<Task> validation = suite.validation().tasks();
        List<String> notes = new ArrayList<>();
        int samples = Integer.getInteger("search.samples", 0);
        int groups = Integer.getInteger("search.groups", 4);
        for (CoefficientBlocks.Granularity g : chosenBlocks.stream().map(CoefficientBlocks.Granularity::named)
                .toList()) {
            String granularity = g.name().toLowerCase(Locale.ROOT) + "-wise";
            Path folder = Files.createDirectories(work.resolve(granularity));
            try (CoefficientModel m = CoefficientModel.build(suite.base(), models, g, groups,
                    folder.resolve("candidates.onnx"))) {
                if (g == CoefficientBlocks.Granularity.TASK) {
                    double[] start = new double[m.size()];
                    Arrays.fill(start, 0.3);
                    rows.add(Candidate.merged("task arithmetic (λ = 0.3)", m.weights(start)));
                }
                for (String objective : chosenObjectives) {
                    if (objective.equals("tinting")) {
                        notes.add(tinting(suite, m, granularity, digits, generations));
                        continue;
                    }
                    // atlasK: cross-entropy on the first K training samples of each class (aTLAS's few shots)
                    boolean fewShot = objective.startsWith("atlas");
                    CoefficientSearch.Objective o = fewShot ? CoefficientSearch.Objective.SUPERVISED
                            : CoefficientSearch.Objective.named(objective);
                    List<Task> scored = fewShot ? textTasks(args[1]).fewShot(Integer.parseInt(objective.substring(5)),
                            java.util.Map.of(), folder) : validation;
                    long t0 = System.nanoTime();
                    CoefficientSearch.Result r = CoefficientSearch.over(m, scored).objective(o).samples(samples)
                            .generations(generations).seed(0).onGeneration(gen -> System.err.printf(Locale.ROOT,
                                    "%s %s generation %d: best %.4f, mean %.4f, sigma %.3f%n", granularity, objective,
                                    gen.generation(), gen.bestCost(), gen.meanCost(), gen.sigma())).run();
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    String name = (fewShot ? "aTLAS " + objective.substring(5) + " per class "
                            : o == CoefficientSearch.Objective.ENTROPY ? "AdaMerging " : "supervised ") + granularity;
                    int evaluations = 1 + (r.generations().size() - 1) * (4 + (int) Math.floor(3 * Math.log(m.size())));
                    notes.add(String.format(Locale.ROOT, "%s: %d coefficients, cost %.4f (start %.4f), %d evaluations"
                            + " in %.1f s (%.2f candidates/s): %s", name, m.size(), r.cost(),
                            r.generations().get(0).bestCost(), evaluations, seconds,
                            evaluations / seconds, Arrays.toString(round(r.coefficients()))));
                    rows.add(Candidate.merged(name, m.weights(r.coefficients())));
                }
            }
        }
        suite.fineTuned().forEach((task, file) -> rows.add(Candidate.of("fine-tuned on " + task, file)));
        EvaluationReport report = suite.test().run(rows);
        System.out.print(report.table());
        notes.forEach(System.out::println);
        Files.writeString(work.resolve("search.md"), report.table() + String.join("\n", notes) + "\n");
    }

    /**
     * Candidates per second on bge-small with the five text-task fine-tunes, one task's validation split a
     * candidate, by how a candidate is run: the base model alone in one open session (no mixing: the floor), the
     * candidates' model with the coefficients fed ({@link CoefficientModel}), and a new session per candidate given
     * the merged weights in memory ({@code Candidate.merged}). The same random task-wise candidates for both.
     */
    static void strategies(Path models, Path work) throws IOException {
        TaskBenchmark.Suite suite = TaskBenchmark.text(models, work);
        Task task = suite.validation().tasks().get(0);
        int n = 6;
        java.util.SplittableRandom random = new java.util.SplittableRandom(0);
        long t0 = System.nanoTime();
        try (CoefficientModel m = CoefficientModel.build(suite.base(), new ArrayList<>(suite.fineTuned().values()),
                CoefficientBlocks.Granularity.TASK, work.resolve("candidates.onnx"))) {
            double built = (System.nanoTime() - t0) / 1e9;
            double[][] cs = new double[n][];
            for (int k = 0; k < n; k++) {
                cs[k] = random.doubles(m.size(), 0, 1).toArray();
            }
            double floor;
            try (Candidate.Session base = Candidate.of("base", suite.base()).open()) {
                task.score(base); // warm
                long s = System.nanoTime();
                for (int k = 0; k < n; k++) {
                    task.score(base);
                }
                floor = (System.nanoTime() - s) / 1e9 / n;
            }
            try (Candidate.Session warm = m.session(cs[0])) {
                task.score(warm);
            }
            long s = System.nanoTime();
            double[] mixed = new double[n];
            for (int k = 0; k < n; k++) {
                try (Candidate.Session candidate = m.session(cs[k])) {
                    mixed[k] = task.score(candidate);
                }
            }
            double inGraph = (System.nanoTime() - s) / 1e9 / n;
            s = System.nanoTime();
            double[] sessions = new double[n];
            for (int k = 0; k < n; k++) {
                sessions[k] = task.score(Candidate.merged("c" + k, m.weights(cs[k])));
            }
            double perSession = (System.nanoTime() - s) / 1e9 / n;
            String report = String.format(Locale.ROOT, "task '%s' (%d candidates, 2 cores)%n"
                    + "building the candidates' model once: %.1f s%n"
                    + "base model, one open session (no mixing): %.2f s a run, %.3f runs/s%n"
                    + "candidates' mixer and network, coefficients fed: %.2f s a candidate, %.3f candidates/s (%.2fx the floor's time)%n"
                    + "a session per candidate (merged weights in memory): %.2f s a candidate, %.3f candidates/s"
                    + " (%.2fx the candidates' model's time)%n"
                    + "scores agree: %s vs %s%n", task.name(), n, built, floor, 1 / floor, inGraph, 1 / inGraph,
                    inGraph / floor, perSession, 1 / perSession, perSession / inGraph, Arrays.toString(mixed),
                    Arrays.toString(sessions));
            System.out.print(report);
            Files.writeString(work.resolve("strategies.txt"), report);
        }
    }

    /**
     * Model Tinting with the coefficients of {@code m}: each task's head refitted with the coefficients against the
     * fine-tunes' predictions on the validation inputs (no labels), then the test split's accuracy with the tinted
     * heads. The digits tasks share the MLP's ten outputs, so each is given a linear head on them (the identity:
     * untinted, it scores as the model does); the text tasks have heads of their own.
     */
    static String tinting(TaskBenchmark.Suite suite, CoefficientModel m, String granularity, boolean digits,
                          int generations) {
        float[] identity = new float[100];
        for (int i = 0; i < 10; i++) {
            identity[i * 11] = 1;
        }
        List<Task> validation = digits ? suite.validation().tasks().stream()
                .map(t -> t.withHead(dev.graft.eval.Head.linear(identity, null, 10, 10))).toList()
                : suite.validation().tasks();
        List<Task> test = suite.test().tasks();
        long t0 = System.nanoTime();
        double confident = Double.parseDouble(System.getProperty("search.confident", "1"));
        dev.graft.search.Tinting.Result r = dev.graft.search.Tinting.over(m, validation).rounds(3)
                .generations(Math.max(1, generations / 3)).seed(0).confident(confident).run();
        double seconds = (System.nanoTime() - t0) / 1e9;
        StringBuilder row = new StringBuilder("| Model Tinting " + granularity + " (heads refitted"
                + (confident < 1 ? ", " + confident + " most confident" : "") + ") |");
        double sum = 0;
        try (Candidate.Session s = m.session(r.coefficients())) {
            for (int t = 0; t < test.size(); t++) {
                double a = test.get(t).withHead(r.heads().get(t)).score(s);
                sum += a;
                row.append(String.format(Locale.ROOT, " %.3f |", a));
            }
        }
        return row.append(String.format(Locale.ROOT, " %.3f | (cost %.4f, %.1f s, coefficients %s)",
                sum / test.size(), r.cost(), seconds, Arrays.toString(round(r.coefficients())))).toString();
    }

    private static TextTasks textTasks(String models) {
        return new TextTasks(Path.of("recipes/text-tasks"), Path.of(models).resolve("bge-small-en-v1.5.onnx"),
                Path.of(models).resolve("bge-small-en-v1.5-tokenizer.json"));
    }

    private static double[] round(double[] c) {
        return Arrays.stream(c).map(v -> Math.round(v * 1000) / 1000.0).toArray();
    }
}
