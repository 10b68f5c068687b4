package dev.graft.eval;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.InvalidSettingException;
import dev.graft.RecipeException;
import dev.graft.recipe.RecipeFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Reads a task file ({@code tasks.yaml}), the description {@code graft eval --tasks} and
 * {@link Evaluation#read} take. Paths are relative to the file; a top-level {@code tokenizer} is the default of
 * the text tasks.
 * <pre>
 * tokenizer: bge-small-en-v1.5-tokenizer.json
 * tasks:
 *   - name: licence               # required, unique
 *     data: licence/test.tsv      # .npy array, .tsv, .jsonl or plain text (see TaskData)
 *     metric: accuracy            # accuracy (default), cross_entropy, entropy, perplexity, mrr, similarity
 *     classes: [gpl, mit, bsd]    # label names, in the order of the logits (default: labels are indexes)
 *     head: licence/head.npy      # [classes, width] weights (head_bias: [classes]) or an .onnx head model
 *     output: last_hidden_state   # a graph output (default: the first)
 *     pooling: mean               # auto (default), none, mean, cls, last
 *     fine_tuned: licence.onnx    # the task's own model: normalizes the scores
 *     samples: 500                # samples used at most (default: all)
 *   - name: digits
 *     data: x.npy                 # float, samples first
 *     labels: y.npy               # integer class per sample
 *     input: x                    # the model input it feeds (default: the first)
 *   - name: close to bge
 *     data: sentences.txt
 *     metric: similarity
 *     reference: bge.onnx
 * </pre>
 * Every error is a {@link RecipeException} naming the file, the task and the key.
 */
public final class TaskFile {
    private static final Set<String> TOP = Set.of("tokenizer", "tasks");
    private static final Set<String> KEYS = Set.of("name", "data", "labels", "input", "tokenizer", "samples",
            "metric", "classes", "head", "head_bias", "output", "pooling", "fine_tuned", "reference");

    private TaskFile() {
    }

    /** The tasks of {@code file}, in order. */
    public static List<Task> read(Path file) {
        RecipeFile f = RecipeFile.read(file);
        f.keys(f.root(), TOP, "");
        JsonNode list = f.root().get("tasks");
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw f.error("needs 'tasks', a list of tasks (each with name and data)");
        }
        List<Task> tasks = new ArrayList<>();
        for (JsonNode node : list) {
            if (!node.isObject()) {
                throw f.error("each entry of 'tasks' must be a mapping with name and data, got " + node);
            }
            String name = f.text(node, "name");
            try {
                tasks.add(task(f, node, name));
            } catch (InvalidSettingException e) {
                throw f.error("task '" + name + "': " + e.getMessage());
            }
        }
        return tasks;
    }

    private static Task task(RecipeFile f, JsonNode node, String name) {
        String where = "task '" + name + "'";
        f.keys(node, KEYS, where);
        Metric metric = Metric.named(node.has("metric") ? f.text(node, "metric") : "accuracy");
        Pooling pooling = node.has("pooling") ? Pooling.named(f.text(node, "pooling")) : Pooling.AUTO;
        if (metric == Metric.SIMILARITY && !node.has("reference")) {
            throw f.error(where + ": similarity needs 'reference', the model compared with");
        }
        if (node.has("head_bias") && !node.has("head")) {
            throw f.error(where + ": 'head_bias' goes with 'head'");
        }
        Path data = f.path(node, "data");
        TaskData samples;
        if (data.getFileName().toString().endsWith(".npy")) {
            if (node.has("tokenizer")) {
                throw f.error(where + ": a tokenizer goes with text data, and " + data.getFileName() + " is an array");
            }
            samples = TaskData.array(data, node.has("input") ? f.text(node, "input") : null,
                    node.has("labels") ? f.path(node, "labels") : null);
        } else {
            Path tokenizer = node.has("tokenizer") ? f.path(node, "tokenizer")
                    : f.root().has("tokenizer") ? f.path(f.root(), "tokenizer") : null;
            if (tokenizer == null) {
                throw f.error(where + ": text data needs a tokenizer (the task's or the file's 'tokenizer')");
            }
            if (node.has("labels") || node.has("input")) {
                throw f.error(where + ": 'labels' and 'input' go with .npy arrays; text carries its labels");
            }
            TaskData.Layout layout = metric.needsLabels() ? TaskData.Layout.LABELLED
                    : metric == Metric.MRR ? TaskData.Layout.PAIRS : TaskData.Layout.PLAIN;
            samples = TaskData.text(data, layout, tokenizer, f.integer(node, "samples", Integer.MAX_VALUE),
                    classes(f, node, where));
        }
        Task task = Task.of(name, samples, metric).withPooling(pooling);
        if (node.has("output")) {
            task = task.withOutput(f.text(node, "output"));
        }
        if (node.has("head")) {
            Path head = f.path(node, "head");
            task = task.withHead(head.getFileName().toString().endsWith(".onnx") ? Head.model(head)
                    : Head.read(head, node.has("head_bias") ? f.path(node, "head_bias") : null));
        }
        if (node.has("reference")) {
            task = task.withReference(f.path(node, "reference"));
        }
        if (node.has("fine_tuned")) {
            task = task.withFineTuned(f.path(node, "fine_tuned"));
        }
        return task;
    }

    private static List<String> classes(RecipeFile f, JsonNode node, String where) {
        JsonNode c = node.get("classes");
        if (c == null) {
            return List.of();
        }
        if (!c.isArray() || c.isEmpty()) {
            throw f.error(where + ": 'classes' must be a list of label names");
        }
        List<String> out = new ArrayList<>();
        c.forEach(x -> out.add(x.asText()));
        return out;
    }
}
