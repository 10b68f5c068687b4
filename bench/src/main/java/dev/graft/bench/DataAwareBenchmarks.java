package dev.graft.bench;

import dev.graft.Graft;
import dev.graft.data.Calibration;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Task;
import dev.graft.examples.TextTasks;
import dev.graft.exec.Threads;
import dev.graft.merge.Linear;
import dev.graft.regmean.RegMean;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The data-aware benchmarks on the text benchmark's five bge-small fine-tunes ({@link TextTasks}):
 * <ul>
 *   <li>{@code regmean}: RegMean of the five with 256 samples per task, wall time and peak resident memory, against
 *   the floor: one pass of each model over its own samples (what gathering the Grams must at least do);</li>
 *   <li>{@code eval}: eight models (pretrained, five fine-tunes, average, RegMean) on all five tasks' test splits,
 *   from Java and as one {@code graft eval} process, against one ONNX Runtime pass of each model over the same
 *   samples.</li>
 * </ul>
 */
final class DataAwareBenchmarks {
    private DataAwareBenchmarks() {
    }

    static void run(Path models, Path work, boolean regMean, boolean eval) throws Exception {
        Path base = models.resolve("bge-small-en-v1.5.onnx");
        TextTasks tasks = new TextTasks(Path.of("examples/recipes/text-tasks"), base,
                models.resolve("bge-small-en-v1.5-tokenizer.json"));
        Map<String, Path> fineTuned = new LinkedHashMap<>();
        for (String task : TextTasks.NAMES) {
            fineTuned.put(task, tasks.rebuild(task, work.resolve("text-" + task + ".onnx")));
        }
        List<Path> inputs = new ArrayList<>(fineTuned.values());
        Path regmeanOut = work.resolve("text-regmean.onnx");
        if (regMean) {
            List<Calibration> data = tasks.calibration(256);
            long hwmBefore = peakRss();
            double floor = Benchmarks.time(() -> {
                for (int i = 0; i < inputs.size(); i++) {
                    pass(inputs.get(i), data.get(i));
                }
            });
            RegMean.Report[] report = new RegMean.Report[1];
            double merge = Benchmarks.time(() -> report[0] = RegMean.merge(inputs).calibration(data).writeTo(regmeanOut));
            long hwm = peakRss();
            System.out.printf(Locale.ROOT, "regmean: five bge-small fine-tunes, 256 samples per task, %d cores%n",
                    Runtime.getRuntime().availableProcessors());
            System.out.printf(Locale.ROOT, "  one pass of each model over its samples (floor)  %6.1f s%n", floor);
            System.out.printf(Locale.ROOT, "  RegMean merge, written                           %6.1f s  = %.2f x floor "
                    + "(passes over the data: %d)%n", merge, merge / floor, report[0].passes());
            System.out.printf(Locale.ROOT, "  peak RSS of this JVM: %d MB before, %d MB after the merge%n",
                    hwmBefore >> 20, hwm >> 20);
        }
        if (eval) {
            if (!Files.exists(regmeanOut)) {
                RegMean.merge(inputs).calibration(tasks.calibration(256)).writeTo(regmeanOut);
            }
            Path average = work.resolve("text-average.onnx");
            var b = Graft.merge().method(new Linear()).diagnostics(false);
            inputs.forEach(p -> b.model(p, 1));
            b.writeTo(average);
            List<Path> eight = new ArrayList<>(List.of(base));
            eight.addAll(inputs);
            eight.add(average);
            eight.add(regmeanOut);
            List<Task> test = tasks.tasks("test", fineTuned);
            double floor = Benchmarks.time(() -> {
                for (Path m : eight) {
                    for (Task t : test) {
                        pass(m, t.data().inputs("input_ids"));
                    }
                }
            });
            EvaluationReport[] report = new EvaluationReport[1];
            double java = Benchmarks.time(() -> report[0] = Evaluation.of(test).run(Evaluation.files(eight)));
            Path taskFile = tasks.writeTaskFile("test", fineTuned, work.resolve("text-tasks.yaml"));
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "-jar", "cli/target/graft-cli.jar", "eval", "--tasks", taskFile.toString()));
            eight.forEach(m -> command.add(m.toString()));
            double cli = Benchmarks.time(() -> {
                Process p = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(work.resolve("text-eval.txt").toFile()).start();
                if (p.waitFor() != 0) {
                    throw new IOException("graft eval failed: " + Files.readString(work.resolve("text-eval.txt")));
                }
            });
            int samples = test.stream().mapToInt(t -> t.data().samples()).sum();
            System.out.printf(Locale.ROOT, "eval: eight models on five tasks (%d test samples in all), %d cores%n",
                    samples, Runtime.getRuntime().availableProcessors());
            System.out.printf(Locale.ROOT, "  one ONNX Runtime pass per model (floor)   %6.1f s%n", floor);
            System.out.printf(Locale.ROOT, "  Evaluation.run, warm JVM                  %6.1f s  = %.2f x floor%n", java,
                    java / floor);
            System.out.printf(Locale.ROOT, "  graft eval, one cold process              %6.1f s  = %.2f x floor%n", cli,
                    cli / floor);
            System.out.print(report[0].table());
        }
    }

    /** One pass of {@code model} over {@code data}, its first output fetched and dropped. */
    private static void pass(Path model, Calibration data) {
        try (ModelRunner r = new ModelRunner(model, Threads.modelRuns())) {
            String out = r.outputNames().get(0);
            for (Map<String, ModelRunner.Input> batch : data.batches()) {
                r.run(batch, Set.of(out));
            }
        }
    }

    /** This process's peak resident memory (VmHWM), in bytes. */
    private static long peakRss() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) << 10;
            }
        }
        return -1;
    }
}
