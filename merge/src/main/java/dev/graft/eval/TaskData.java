package dev.graft.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.data.NpyArray;
import dev.graft.data.TextFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The samples of a task, read once and shared by every model evaluated on it: the model inputs in batches, a
 * class label per sample (for classification), and for retrieval the documents that pair with the queries. Read
 * from a {@code .npy} array (samples first) with labels in another {@code .npy} of integers, or from text:
 * <ul>
 *   <li>labelled: TSV lines {@code label<TAB>text} (a further tab makes a pair of texts) or JSONL objects
 *       {@code {"text": ..., "label": ...}} (optional {@code "pair"}); a label is a class index, or a class name
 *       looked up in the task's class list;</li>
 *   <li>pairs (retrieval): TSV lines {@code query<TAB>document} or JSONL {@code {"query": ..., "document": ...}};</li>
 *   <li>plain: one text per line (a tab makes a pair), or JSONL {@code {"text": ...}}.</li>
 * </ul>
 * Text is tokenised with a Hugging Face {@code tokenizer.json} and batched as {@link Calibration#texts} does, at
 * most {@value CalibrationSpec#MAX_TOKENS} tokens a sample.
 */
public final class TaskData {
    /** How the lines of a text file are laid out. */
    public enum Layout { LABELLED, PAIRS, PLAIN }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String source;
    private final Function<String, Calibration> inputs;
    private final int[] labels;
    private final Calibration documents;
    private final int samples;
    private final Map<String, Calibration> byInput = new ConcurrentHashMap<>();

    private TaskData(String source, Function<String, Calibration> inputs, int[] labels, Calibration documents,
                     int samples) {
        this.source = source;
        this.inputs = inputs;
        this.labels = labels;
        this.documents = documents;
        this.samples = samples;
    }

    /**
     * Samples already in memory: {@code inputs} in batches, {@code labels} (one per sample, in
     * {@link Calibration#sampleIndex} order; null when unlabelled).
     */
    public static TaskData of(Calibration inputs, int[] labels) {
        if (labels != null && labels.length != inputs.samples()) {
            throw new InvalidSettingException("task data '" + inputs.source() + "' has " + inputs.samples()
                    + " samples and " + labels.length + " labels");
        }
        return new TaskData(inputs.source(), first -> inputs, labels == null ? null : labels.clone(), null,
                inputs.samples());
    }

    /** The first {@code n} samples only (and their labels or documents): a budget of samples, always the same. */
    TaskData first(int n) {
        return n >= samples ? this : select(java.util.stream.IntStream.range(0, n).toArray(),
                source + " (first " + n + ")");
    }

    /** Samples {@code indices} only (ascending; and their labels or documents), renumbered in that order. */
    TaskData select(int[] indices) {
        return select(indices, source + " (" + indices.length + " selected)");
    }

    private TaskData select(int[] indices, String described) {
        int[] picked = indices.clone();
        int[] kept = labels == null ? null : java.util.Arrays.stream(picked).map(i -> labels[i]).toArray();
        return new TaskData(described, input -> inputs(input).select(picked), kept,
                documents == null ? null : documents.select(picked), picked.length);
    }

    /** The same samples with {@code labels} (one per sample, in the data's order). */
    TaskData withLabels(int[] labels) {
        return new TaskData(source, this::inputs, labels.clone(), documents, samples); // shares the read inputs
    }

    /**
     * The rows of {@code array} fed to model input {@code input} (null: each model's first input), with the
     * integer {@code labels} array (null: unlabelled).
     *
     * @throws GraftException naming the file if an array cannot be read or the counts differ
     */
    public static TaskData array(Path array, String input, Path labels) {
        NpyArray x = NpyArray.read(array);
        if (x.floats() == null || x.shape().length < 1 || x.shape()[0] < 1) {
            throw new GraftException(array, null, "task inputs must be a float array with samples along the first "
                    + "dimension, got shape " + Arrays.toString(x.shape()));
        }
        int n = (int) x.shape()[0];
        int[] y = null;
        if (labels != null) {
            NpyArray l = NpyArray.read(labels);
            if (l.longs() == null || l.shape().length != 1 || l.shape()[0] != n) {
                throw new GraftException(labels, null, "labels must be an integer array of " + n + " (one per row of "
                        + array.getFileName() + "), got shape " + Arrays.toString(l.shape()));
            }
            y = Arrays.stream(l.longs()).mapToInt(Math::toIntExact).toArray();
        }
        return new TaskData(array.toString(),
                first -> Calibration.npy(array, input != null ? input : first, CalibrationSpec.ARRAY_BATCH), y,
                null, n);
    }

    /**
     * The first {@code limit} samples of text file {@code file} (TSV, JSONL by its {@code .jsonl} name, or plain
     * lines) laid out as {@code layout}; {@code classes} names the labels in order (empty: labels are indexes).
     *
     * @throws GraftException naming the file and line if a line does not fit the layout
     */
    public static TaskData text(Path file, Layout layout, Path tokenizer, int limit, List<String> classes) {
        boolean jsonl = file.getFileName().toString().endsWith(".jsonl");
        List<String> texts = new ArrayList<>();
        List<String> docs = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        List<String> lines = TextFiles.lines(file);
        for (int i = 0; i < lines.size() && texts.size() < limit; i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            String where = "line " + (i + 1);
            String[] fields = jsonl ? json(file, line, where, layout) : tsv(file, line, where, layout);
            texts.add(fields[0]);
            if (layout == Layout.PAIRS) {
                docs.add(fields[1]);
            } else if (layout == Layout.LABELLED) {
                labels.add(label(file, fields[1], classes, where));
            }
        }
        if (texts.size() < (layout == Layout.PAIRS ? 2 : 1)) {
            throw new GraftException(file, null, "has no " + (layout == Layout.PAIRS ? "two pairs" : "samples")
                    + " to evaluate on");
        }
        int max = CalibrationSpec.MAX_TOKENS;
        Calibration in = Calibration.texts(file.toString(), texts, tokenizer, max);
        Calibration documents = layout == Layout.PAIRS ? Calibration.texts(file + " (documents)", docs, tokenizer, max)
                : null;
        int[] y = layout == Layout.LABELLED ? labels.stream().mapToInt(Integer::intValue).toArray() : null;
        return new TaskData(file.toString(), first -> in, y, documents, texts.size());
    }

    /** {@code [text, label or document]} from a TSV line ({@code [text]} for plain lines). */
    private static String[] tsv(Path file, String line, String where, Layout layout) {
        if (layout == Layout.PLAIN) {
            return new String[] {line};
        }
        int tab = line.indexOf('\t');
        if (tab < 0) {
            throw new GraftException(file, null, where + " has no tab; expected "
                    + (layout == Layout.PAIRS ? "query<TAB>document" : "label<TAB>text"));
        }
        String a = line.substring(0, tab).strip();
        String b = line.substring(tab + 1).strip();
        return layout == Layout.PAIRS ? new String[] {a, b} : new String[] {b, a};
    }

    private static String[] json(Path file, String line, String where, Layout layout) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new GraftException(file, null, where + " is not JSON: " + e.getOriginalMessage(), e);
        }
        String[] keys = switch (layout) {
            case PAIRS -> new String[] {"query", "document"};
            case LABELLED -> new String[] {"text", "label"};
            case PLAIN -> new String[] {"text"};
        };
        String[] out = new String[keys.length];
        for (int k = 0; k < keys.length; k++) {
            JsonNode v = node == null ? null : node.get(keys[k]);
            if (v == null || !v.isValueNode()) {
                throw new GraftException(file, null, where + " has no \"" + keys[k] + "\" (expected an object with "
                        + String.join(", ", keys) + ")");
            }
            out[k] = v.asText();
        }
        JsonNode pair = node.get("pair");
        if (layout != Layout.PAIRS && pair != null && pair.isValueNode()) {
            out[0] = out[0] + "\t" + pair.asText();
        }
        return out;
    }

    private static int label(Path file, String label, List<String> classes, String where) {
        if (!classes.isEmpty()) {
            int k = classes.indexOf(label);
            if (k < 0) {
                throw new GraftException(file, null, where + " has label '" + label + "', not one of the task's "
                        + "classes " + classes);
            }
            return k;
        }
        try {
            return Integer.parseInt(label);
        } catch (NumberFormatException e) {
            throw new GraftException(file, null, where + " has label '" + label + "'; without a list of classes a "
                    + "label must be a class index");
        }
    }

    /** The model inputs, in batches; an array feeds {@code firstInput} unless the task names its input. */
    public Calibration inputs(String firstInput) {
        return byInput.computeIfAbsent(firstInput, inputs);
    }

    /** The retrieval documents (pair {@code i} with query {@code i}), or null. */
    Calibration documents() {
        return documents;
    }

    /** Class labels by sample, or null. */
    int[] labels() {
        return labels;
    }

    /** How many samples. */
    public int samples() {
        return samples;
    }

    /** Where the samples came from. */
    public String source() {
        return source;
    }
}
