package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.data.TextFiles;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluation;
import dev.graft.merge.Linear;
import dev.graft.pleas.Pleas;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * PLeaS with its defaults on two fine-tunes of the text benchmark ({@link TextTasks}), against their simple
 * average: calibration is the first 128 training texts of each task, scores are both tasks' test accuracy through
 * their heads; PLeaS is fitted on the originals' inputs (the default) and on the merged model's own. Run from
 * {@code examples/}: {@code java dev.graft.examples.PleasTaskPair MODELS_DIR WORK_DIR TASK_A TASK_B} (for example
 * {@code licence source}); prints the table of the README.
 */
public final class PleasTaskPair {
    private PleasTaskPair() {
    }

    public static void main(String[] args) throws IOException {
        Path models = Path.of(args[0]);
        Path work = Files.createDirectories(Path.of(args[1]));
        Path base = models.resolve("bge-small-en-v1.5.onnx");
        Path tokenizer = models.resolve("bge-small-en-v1.5-tokenizer.json");
        TextTasks tasks = new TextTasks(Path.of("recipes/text-tasks"), base, tokenizer);
        Map<String, Path> fineTuned = new LinkedHashMap<>();
        List<String> texts = new ArrayList<>();
        for (String task : List.of(args[2], args[3])) {
            fineTuned.put(task, tasks.rebuild(task, work.resolve(task + ".onnx")));
            TextFiles.lines(Path.of("recipes/text-tasks", task + "_train.tsv")).stream().filter(l -> !l.isBlank())
                    .limit(128).map(l -> l.substring(l.indexOf('\t') + 1).strip()).forEach(texts::add);
        }
        Calibration data = Calibration.texts("training texts of both tasks", texts, tokenizer,
                CalibrationSpec.MAX_TOKENS);
        Path a = fineTuned.get(args[2]);
        Path b = fineTuned.get(args[3]);
        Path average = work.resolve("average.onnx");
        Graft.merge().model(a, 1).model(b, 1).method(new Linear()).writeTo(average);
        List<Candidate> candidates = new ArrayList<>(List.of(Candidate.of("pretrained", base), Candidate.of(args[2], a),
                Candidate.of(args[3], b), Candidate.of("simple average", average)));
        for (Pleas.FitInputs inputs : Pleas.FitInputs.values()) {
            Path merged = work.resolve("pleas-" + inputs + ".onnx");
            long start = System.nanoTime();
            Pleas.Report r = Pleas.merge(a, b).calibration(data).fitInputs(inputs).writeTo(merged);
            System.out.printf(Locale.ROOT, "PLeaS fit on %s: units %s, layers %s, mean weight cosine %.3f, %.0f s%n",
                    r.fitInputs(), r.matching(), r.fit(), r.weightCosine(), (System.nanoTime() - start) / 1e9);
            candidates.add(Candidate.of("PLeaS, fit on " + r.fitInputs() + " inputs", merged));
        }
        System.out.print(Evaluation.of(tasks.tasks("test", fineTuned).stream()
                .filter(t -> fineTuned.containsKey(t.name())).toList()).run(candidates).table());
    }
}
