package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.data.Calibration;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.exec.Execution;
import dev.graft.merge.MergeMethods;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergedWeights;
import dev.graft.regmean.RegMean;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The methods × tasks table of a multi-task benchmark: the text tasks ({@link TextTasks}: five bge-small fine-tunes)
 * or the digits tasks ({@link DigitsTasks}: three MLP fine-tunes). Rows: the pretrained model and each fine-tune,
 * then merges of the fine-tunes, every merge computed in memory and evaluated without a file. Each method's
 * coefficients (λ, density, α) are chosen on the validation split, by the average accuracy over the tasks; the
 * table is on the test split. Data-aware methods calibrate on the validation split's inputs (digits) or on the
 * training split's (text). Run: {@code java dev.graft.examples.TaskBenchmark text MODELS_DIR [WORK_DIR]}
 * (MODELS_DIR: bge-small-en-v1.5.onnx and its tokenizer, as the build fetches them into cli/target/models), or
 * {@code java dev.graft.examples.TaskBenchmark digits [WORK_DIR]}; from the examples folder.
 */
public final class TaskBenchmark {
    /** One method: its name and the candidates to choose from on validation, each described by its settings. */
    private record Method(String name, Map<String, Supplier<MergedWeights>> grid) {
    }

    /** A benchmark: its pretrained model, one fine-tune per task, the two splits, and unlabelled data per task. */
    record Suite(String name, Path base, Map<String, Path> fineTuned, Evaluation validation, Evaluation test,
                 List<Calibration> data) {
    }

    private TaskBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        boolean digits = args[0].equals("digits");
        int given = digits ? 1 : 2; // arguments before WORK_DIR
        Path work = Files.createDirectories(Path.of(args.length > given ? args[given]
                : "target/" + (digits ? "digits-tasks" : "text-tasks")));
        Suite suite = digits ? digits(Path.of("recipes/digits")) : text(Path.of(args[1]), work);
        List<String> chosen = new ArrayList<>();
        EvaluationReport report = run(suite, chosen::add);
        System.out.print(report.table());
        Files.writeString(work.resolve(suite.name() + ".md"), report.table());
        Files.writeString(work.resolve(suite.name() + ".json"), report.json());
        report.writeSvg(work.resolve(suite.name() + ".svg"));
        chosen.forEach(System.out::println);
    }

    /** The text tasks: the five fine-tunes rebuilt into {@code work}; RegMean calibrates on 128 training samples. */
    static Suite text(Path models, Path work) {
        Path base = models.resolve("bge-small-en-v1.5.onnx");
        TextTasks tasks = new TextTasks(Path.of("recipes/text-tasks"), base,
                models.resolve("bge-small-en-v1.5-tokenizer.json"));
        Map<String, Path> fineTuned = new LinkedHashMap<>();
        for (String task : TextTasks.NAMES) {
            fineTuned.put(task, tasks.rebuild(task, work.resolve(task + ".onnx")));
        }
        return new Suite("text-tasks", base, fineTuned, Evaluation.of(tasks.tasks("validation", fineTuned)),
                Evaluation.of(tasks.tasks("test", fineTuned)), tasks.calibration(128));
    }

    /**
     * The digits tasks of {@code folder}: the held-out images' first half is the validation split (and each task's
     * unlabelled data), the second half the test split.
     */
    static Suite digits(Path folder) {
        DigitsTasks all = new DigitsTasks(folder);
        int n = all.size();
        DigitsTasks validation = all.split(0, n / 2);
        DigitsTasks test = all.split(n / 2, n);
        Map<String, Path> fineTuned = new LinkedHashMap<>();
        for (int t = 0; t < 3; t++) {
            fineTuned.put(DigitsTasks.NAMES.get(t), folder.resolve("task_" + "abc".charAt(t) + ".onnx"));
        }
        return new Suite("digits-tasks", folder.resolve("base.onnx"), fineTuned,
                Evaluation.of(validation.tasks(fineTuned)), Evaluation.of(test.tasks(fineTuned)),
                validation.taskInputs());
    }

    /** The table of {@code suite} on its test split; {@code chosen} hears each method's choice on validation. */
    static EvaluationReport run(Suite suite, java.util.function.Consumer<String> chosen) {
        List<Path> inputs = new ArrayList<>(suite.fineTuned().values());
        List<Candidate> rows = new ArrayList<>();
        rows.add(Candidate.of("pretrained", suite.base()));
        suite.fineTuned().forEach((task, file) -> rows.add(Candidate.of("fine-tuned on " + task, file)));
        for (Method m : methods(suite.base(), inputs, suite.data())) {
            long start = System.nanoTime();
            Map<String, MergedWeights> built = new LinkedHashMap<>();
            List<Candidate> candidates = new ArrayList<>();
            m.grid().forEach((settings, merge) -> {
                built.put(settings, merge.get());
                candidates.add(Candidate.merged(settings, built.get(settings)));
            });
            String best = settingsChosen(suite.validation(), candidates);
            chosen.accept(String.format(Locale.ROOT, "%s: %s (of %s; %.0f s)", m.name(), best, m.grid().keySet(),
                    (System.nanoTime() - start) / 1e9));
            rows.add(Candidate.merged(m.name() + (best.equals("-") ? "" : " (" + best + ")"), built.get(best)));
        }
        return suite.test().run(rows);
    }

    /** The settings whose candidate has the best average on {@code validation} (the first of equals). */
    static String settingsChosen(Evaluation validation, List<Candidate> candidates) {
        if (candidates.size() == 1) {
            return candidates.get(0).name();
        }
        EvaluationReport r = validation.run(candidates);
        int best = 0;
        for (int m = 1; m < candidates.size(); m++) {
            if (r.average(m) > r.average(best)) {
                best = m;
            }
        }
        return candidates.get(best).name();
    }

    private static List<Method> methods(Path base, List<Path> inputs, List<Calibration> data) {
        List<Method> out = new ArrayList<>();
        out.add(new Method("simple average", Map.of("-", () -> merge(null, inputs, "linear", Map.of()))));
        out.add(new Method("task arithmetic", grid("λ", new double[] {0.3, 0.5, 0.7, 1.0, 1.5}, v ->
                merge(base, inputs, "task_arithmetic", Map.of("lambda", v)))));
        out.add(new Method("TIES", grid2(new double[] {0.2, 0.5}, new double[] {0.5, 1.0, 1.5, 2.0}, (d, l) ->
                merge(base, inputs, "ties", Map.of("density", d, "lambda", l)))));
        out.add(new Method("DARE-TIES", grid2(new double[] {0.2, 0.5, 0.8}, new double[] {0.3, 0.5, 1.0, 1.5}, (d, l) ->
                merge(base, inputs, "dare_ties", Map.of("density", d, "lambda", l)))));
        out.add(new Method("breadcrumbs", grid2(new double[] {0.5}, new double[] {0.3, 0.5, 1.0, 1.5}, (d, l) ->
                merge(base, inputs, "breadcrumbs", Map.of("density", d, "lambda", l)))));
        out.add(new Method("model stock", Map.of("-", () -> merge(base, inputs, "model_stock", Map.of()))));
        out.add(new Method("RegMean", grid("α", new double[] {0.5, 0.95}, a ->
                RegMean.merge(inputs).calibration(data).alpha(a).inMemory(Execution.defaults()))));
        out.add(new Method("RegMean++", grid("α", new double[] {0.95}, a ->
                RegMean.merge(inputs).calibration(data).alpha(a).mergedInputs(true).inMemory(Execution.defaults()))));
        return out;
    }

    private static MergedWeights merge(Path base, List<Path> inputs, String method, Map<String, Double> parameters) {
        MergeMethod m = MergeMethods.create(method);
        MergeBuilder b = Graft.merge().method(m).diagnostics(false).seed(0);
        if (base != null) {
            b.base(base);
        }
        boolean weighted = m.parameters().stream().anyMatch(p -> p.name().equals("weight"));
        inputs.forEach(p -> {
            if (weighted) {
                b.model(p, 1.0);
            } else {
                b.model(p, Map.of());
            }
        });
        parameters.forEach(b::parameter);
        return b.inMemory();
    }

    private static Map<String, Supplier<MergedWeights>> grid(String name, double[] values,
                                                           java.util.function.DoubleFunction<MergedWeights> merge) {
        Map<String, Supplier<MergedWeights>> out = new LinkedHashMap<>();
        for (double v : values) {
            out.put(name + "=" + v, () -> merge.apply(v));
        }
        return out;
    }

    private static Map<String, Supplier<MergedWeights>> grid2(double[] densities, double[] lambdas,
                                                            java.util.function.BiFunction<Double, Double,
                                                                    MergedWeights> merge) {
        Map<String, Supplier<MergedWeights>> out = new LinkedHashMap<>();
        for (double d : densities) {
            for (double l : lambdas) {
                out.put("density=" + d + ", λ=" + l, () -> merge.apply(d, l));
            }
        }
        return out;
    }
}
