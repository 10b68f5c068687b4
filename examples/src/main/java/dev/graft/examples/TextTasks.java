package dev.graft.examples;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftIoException;
import dev.graft.adapters.LoraApply;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.data.TextFiles;
import dev.graft.eval.Head;
import dev.graft.eval.Metric;
import dev.graft.eval.Pooling;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The text multi-task benchmark of {@code recipes/text-tasks}: five classification tasks built from files on a
 * Debian machine ({@code make_tasks.py}: licence family, kind of source text, configuration format,
 * architecture-independent package, programming language), each with train/validation/test splits, and
 * bge-small-en-v1.5 fine-tuned once per task ({@code fine_tune.py}): a frozen linear head fitted on the
 * pretrained features, then LoRA on every dense layer. The repository holds each fine-tune as a PEFT adapter with
 * fp16 factors and its head; {@link #rebuild} makes the fine-tuned ONNX model with Graft ({@link LoraApply}), so no
 * Python is needed. Every model is scored with each task's own head on the mean-pooled {@code last_hidden_state}.
 */
public final class TextTasks {
    /** The tasks, in the order of the tables. */
    public static final List<String> NAMES = List.of("licence", "source", "config", "arch", "language");

    private final Path folder;
    private final Path base;
    private final Path tokenizer;

    /**
     * The tasks of {@code folder} ({@code recipes/text-tasks}) on {@code base} (bge-small-en-v1.5) with its
     * {@code tokenizer}.
     */
    public TextTasks(Path folder, Path base, Path tokenizer) {
        this.folder = folder;
        this.base = base;
        this.tokenizer = tokenizer;
    }

    /** The fine-tune of {@code task}: its adapter merged into the base, written to {@code target}. */
    public Path rebuild(String task, Path target) {
        LoraApply.to(base).adapter(folder.resolve("models").resolve(task)).writeTo(target);
        return target;
    }

    /** The class names of {@code task}, in the order of its head's rows. */
    public List<String> classes(String task) {
        try {
            return Arrays.asList(new ObjectMapper().readValue(folder.resolve("models").resolve(task)
                    .resolve("classes.json").toFile(), String[].class));
        } catch (IOException e) {
            throw new GraftIoException(folder.resolve("models").resolve(task).resolve("classes.json"), "read", e);
        }
    }

    /**
     * Each task on split {@code split} ({@code train}, {@code validation} or {@code test}), scored by accuracy
     * through its own head, normalized by {@code fineTuned.get(task)} where given.
     */
    public List<Task> tasks(String split, Map<String, Path> fineTuned) {
        return NAMES.stream().map(task -> task(task, folder.resolve(task + "_" + split + ".tsv"), fineTuned)).toList();
    }

    /**
     * Each task on the first {@code perClass} training samples of each class (aTLAS's few-shot budgets), written as
     * {@code TASK_train_PERCLASS.tsv} in {@code dir}.
     */
    public List<Task> fewShot(int perClass, Map<String, Path> fineTuned, Path dir) {
        List<Task> out = new ArrayList<>();
        for (String task : NAMES) {
            Map<String, Integer> taken = new java.util.HashMap<>();
            List<String> kept = TextFiles.lines(folder.resolve(task + "_train.tsv")).stream()
                    .filter(l -> !l.isBlank())
                    .filter(l -> taken.merge(l.substring(0, l.indexOf('\t')), 1, Integer::sum) <= perClass)
                    .toList();
            Path file = dir.resolve(task + "_train_" + perClass + ".tsv");
            try {
                java.nio.file.Files.write(file, kept);
            } catch (IOException e) {
                throw new GraftIoException(file, "written", e);
            }
            out.add(task(task, file, fineTuned));
        }
        return out;
    }

    private Task task(String task, Path file, Map<String, Path> fineTuned) {
        Path models = folder.resolve("models").resolve(task);
        Task t = Task.of(task, TaskData.text(file, TaskData.Layout.LABELLED, tokenizer, Integer.MAX_VALUE,
                        classes(task)), Metric.ACCURACY)
                .withPooling(Pooling.MEAN)
                .withHead(Head.read(models.resolve("head.npy"), models.resolve("head_bias.npy")));
        return fineTuned.containsKey(task) ? t.withFineTuned(fineTuned.get(task)) : t;
    }

    /**
     * Writes a task file for {@code graft eval} with the tasks on {@code split}, normalized by {@code fineTuned}
     * (task name → model file); returns {@code file}.
     */
    public Path writeTaskFile(String split, Map<String, Path> fineTuned, Path file) {
        StringBuilder yaml = new StringBuilder("# the text benchmark of recipes/text-tasks, " + split + " split\n"
                + "tokenizer: " + tokenizer.toAbsolutePath() + "\ntasks:\n");
        for (String task : NAMES) {
            Path models = folder.resolve("models").resolve(task).toAbsolutePath();
            yaml.append("  - name: ").append(task).append("\n    data: ")
                    .append(folder.resolve(task + "_" + split + ".tsv").toAbsolutePath())
                    .append("\n    classes: [").append(String.join(", ", classes(task).stream()
                            .map(c -> '"' + c + '"').toList())).append("]\n    head: ").append(models.resolve("head.npy"))
                    .append("\n    head_bias: ").append(models.resolve("head_bias.npy")).append("\n    pooling: mean\n");
            if (fineTuned.containsKey(task)) {
                yaml.append("    fine_tuned: ").append(fineTuned.get(task).toAbsolutePath()).append('\n');
            }
        }
        try {
            return java.nio.file.Files.writeString(file, yaml);
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    /**
     * The first {@code samples} texts of each task's training split, unlabelled, in the order of {@link #NAMES}:
     * each fine-tune's own data for data-aware merges.
     */
    public List<Calibration> calibration(int samples) {
        return texts("train", samples);
    }

    /**
     * The first {@code samples} texts of each task's split {@code split}, unlabelled, in the order of {@link #NAMES}:
     * inputs labelled only by the task they come from (a router's data).
     */
    public List<Calibration> texts(String split, int samples) {
        List<Calibration> out = new ArrayList<>();
        for (String task : NAMES) {
            Path file = folder.resolve(task + "_" + split + ".tsv");
            List<String> texts = TextFiles.lines(file).stream().filter(l -> !l.isBlank()).limit(samples)
                    .map(l -> l.substring(l.indexOf('\t') + 1).strip()).toList();
            out.add(Calibration.texts(file.toString(), texts, tokenizer, CalibrationSpec.MAX_TOKENS));
        }
        return out;
    }
}
