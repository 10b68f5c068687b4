package dev.graft.eval;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/**
 * A task a model is evaluated on: its data, the output read and how it is pooled, an optional head of its own,
 * the metric, and optionally the task's own fine-tuned model (so that a merge's score can be normalized by it,
 * FusionBench's normalized accuracy) and a reference model (for {@link Metric#SIMILARITY}). Immutable: the
 * {@code with} methods return changed copies. Implements {@link Evaluator} for one-model use.
 */
public final class Task implements Evaluator {
    private final String name;
    private final TaskData data;
    private final Metric metric;
    private final String output;
    private final Pooling pooling;
    private final Head head;
    private final Path reference;
    private final Path fineTuned;
    private volatile float[][] referenceRows;

    private Task(String name, TaskData data, Metric metric, String output, Pooling pooling, Head head,
                 Path reference, Path fineTuned) {
        this.name = name;
        this.data = data;
        this.metric = metric;
        this.output = output;
        this.pooling = pooling;
        this.head = head;
        this.reference = reference;
        this.fineTuned = fineTuned;
    }

    /**
     * Task {@code name} on {@code data} scored by {@code metric}, reading the model's first output with
     * {@link Pooling#AUTO} and no head.
     *
     * @throws InvalidSettingException if the metric needs labels that the data lacks, or retrieval pairs
     */
    public static Task of(String name, TaskData data, Metric metric) {
        check(name, data, metric);
        return new Task(name, data, metric, null, Pooling.AUTO, null, null, null);
    }

    /**
     * The same task scored by {@code metric} instead (a search's objective: the entropy of its predictions, or the
     * cross-entropy of its labels).
     *
     * @throws InvalidSettingException as {@link #of} does
     */
    public Task withMetric(Metric metric) {
        check(name, data, metric);
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    private static void check(String name, TaskData data, Metric metric) {
        if (metric.needsLabels() && data.labels() == null) {
            throw new InvalidSettingException("task '" + name + "': " + metric.displayName() + " needs a label per "
                    + "sample and " + data.source() + " has none");
        }
        if ((metric == Metric.MRR) != (data.documents() != null)) {
            throw new InvalidSettingException("task '" + name + "': " + (metric == Metric.MRR
                    ? "mrr needs query/document pairs" : metric.displayName() + " does not take query/document pairs"));
        }
    }

    /** Reads output {@code output} (a graph output of the model) instead of the first. */
    public Task withOutput(String output) {
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    /** Pools the output as {@code pooling} says. */
    public Task withPooling(Pooling pooling) {
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    /** Applies the task's own {@code head} to the pooled output (classification). */
    public Task withHead(Head head) {
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    /** The model whose outputs {@link Metric#SIMILARITY} compares with. */
    public Task withReference(Path reference) {
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    /** The task's own fine-tuned model, whose score normalizes the others'. */
    public Task withFineTuned(Path fineTuned) {
        return new Task(name, data, metric, output, pooling, head, reference, fineTuned);
    }

    @Override
    public String name() {
        return name;
    }

    /** The task's samples. */
    public TaskData data() {
        return data;
    }

    /** How the task is scored. */
    public Metric metric() {
        return metric;
    }

    /** The task's own fine-tuned model, or null. */
    public Path fineTuned() {
        return fineTuned;
    }

    /** The task's head, or null. */
    public Head head() {
        return head;
    }

    /**
     * The same task on its first {@code n} samples only (the same ones each time): a search's budget.
     *
     * @throws InvalidSettingException if {@code n} is not positive
     */
    public Task first(int n) {
        if (n < 1) {
            throw new InvalidSettingException("task '" + name + "': a sample budget must be positive, got " + n);
        }
        return new Task(name, data.first(n), metric, output, pooling, head, reference, fineTuned);
    }

    /**
     * The same task on samples {@code indices} only (ascending, in the data's order), renumbered in that order: the
     * confident samples Tinting++ keeps, say.
     *
     * @throws InvalidSettingException if an index is out of range or the indices do not ascend
     */
    public Task select(int[] indices) {
        for (int k = 0; k < indices.length; k++) {
            if (indices[k] < 0 || indices[k] >= data.samples() || (k > 0 && indices[k] <= indices[k - 1])) {
                throw new InvalidSettingException("task '" + name + "': sample indices must ascend within [0, "
                        + data.samples() + "), got " + indices[k] + " at position " + k);
            }
        }
        return new Task(name, data.select(indices), metric, output, pooling, head, reference, fineTuned);
    }

    /**
     * The same task with {@code labels} in place of its data's (one per sample, in the data's order): pseudo-labels
     * a teacher gave, say.
     *
     * @throws InvalidSettingException if there is not one label per sample
     */
    public Task withLabels(int[] labels) {
        if (labels.length != data.samples()) {
            throw new InvalidSettingException("task '" + name + "': " + labels.length + " labels for "
                    + data.samples() + " samples");
        }
        return new Task(name, data.withLabels(labels), metric, output, pooling, head, reference, fineTuned);
    }

    /**
     * The pooled output of every sample on the candidate whose sessions {@code s} holds, in the data's order: what
     * the head is applied to.
     */
    public float[][] pooled(Candidate.Session s) {
        String out = output != null ? output : s.outputNames().get(0);
        return rows(s, data.inputs(s.inputNames().get(0)), out);
    }

    /** The logits of every sample ({@link #pooled}, through the head if there is one). */
    public float[][] logits(Candidate.Session s) {
        return logits(pooled(s), s);
    }

    /** Whether every sample has a label. */
    public boolean labelled() {
        return data.labels() != null;
    }

    @Override
    public boolean higherIsBetter() {
        return metric.higherIsBetter();
    }

    @Override
    public double evaluate(Path model) {
        return score(Candidate.of(model));
    }

    /** The score of {@code candidate} (its own sessions, closed after). */
    public double score(Candidate candidate) {
        try (Candidate.Session s = candidate.open()) {
            return score(s);
        }
    }

    /** The score of the candidate whose sessions {@code s} holds. */
    public double score(Candidate.Session s) {
        String out = output != null ? output : s.outputNames().get(0);
        if (!s.outputNames().contains(out)) {
            throw new IncompatibleModelsException(s.candidate().file(), out, "task '" + name + "' reads this output,"
                    + " which the model does not have (its outputs: " + s.outputNames() + ")");
        }
        Calibration inputs = data.inputs(s.inputNames().get(0));
        return switch (metric) {
            case ACCURACY, CROSS_ENTROPY -> classification(logits(rows(s, inputs, out), s));
            case ENTROPY -> Scores.entropy(logits(rows(s, inputs, out), s));
            case MRR -> Scores.meanReciprocalRank(rows(s, inputs, out), rows(s, data.documents(), out));
            case SIMILARITY -> Scores.meanCosine(rows(s, inputs, out), referenceRows());
            case PERPLEXITY -> perplexity(s, inputs, out);
        };
    }

    private float[][] logits(float[][] pooled, Candidate.Session s) {
        return head == null ? pooled : head.apply(pooled, s.candidate().file());
    }

    private double classification(float[][] logits) {
        int[] labels = data.labels();
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= logits[i].length) {
                throw new InvalidSettingException("task '" + name + "': sample " + i + " of " + data.source()
                        + " has label " + labels[i] + " but the model gives " + logits[i].length + " logits");
            }
        }
        return metric == Metric.ACCURACY ? Scores.accuracy(logits, labels) : Scores.crossEntropy(logits, labels);
    }

    private float[][] referenceRows() {
        if (reference == null) {
            throw new InvalidSettingException("task '" + name + "': similarity needs a reference model");
        }
        if (referenceRows == null) {
            try (Candidate.Session r = Candidate.of(reference).open()) {
                String out = output != null ? output : r.outputNames().get(0);
                referenceRows = rows(r, data.inputs(r.inputNames().get(0)), out);
            }
        }
        return referenceRows;
    }

    /** The pooled output of every sample, in the data's own order. */
    private float[][] rows(Candidate.Session s, Calibration inputs, String out) {
        float[][] rows = new float[inputs.samples()][];
        int position = 0;
        for (Map<String, ModelRunner.Input> batch : inputs.batches()) {
            ModelRunner.Output o = s.run(batch, out);
            ModelRunner.Input mask = batch.get("attention_mask");
            float[][] pooled = pooling.pool(o, mask == null ? null : mask.longs(), s.candidate().file(), out);
            for (float[] row : pooled) {
                rows[inputs.sampleIndex(position++)] = row;
            }
        }
        return rows;
    }

    /** exp of the mean negative log-likelihood of each next real token. */
    private double perplexity(Candidate.Session s, Calibration inputs, String out) {
        double nll = 0;
        long tokens = 0;
        for (Map<String, ModelRunner.Input> batch : inputs.batches()) {
            ModelRunner.Input ids = batch.get("input_ids");
            if (ids == null) {
                throw new InvalidSettingException("task '" + name + "': perplexity needs text data (input_ids)");
            }
            ModelRunner.Output o = s.run(batch, out);
            long[] shape = o.shape();
            if (shape.length != 3 || shape[0] != ids.shape()[0] || shape[1] != ids.shape()[1]) {
                throw new IncompatibleModelsException(s.candidate().file(), out, "perplexity reads logits [batch, "
                        + "positions, vocabulary] for input_ids " + Arrays.toString(ids.shape()) + ", got "
                        + Arrays.toString(shape));
            }
            for (long id : ids.longs()) {
                if (id < 0 || id >= shape[2]) {
                    throw new IncompatibleModelsException(s.candidate().file(), out, "has a vocabulary of " + shape[2]
                            + " but task '" + name + "' has token id " + id + " (another model's tokenizer?)");
                }
            }
            ModelRunner.Input mask = batch.get("attention_mask");
            double[] sum = Scores.nextTokenLogLikelihood(o.values(), shape, ids.longs(),
                    mask == null ? null : mask.longs());
            nll -= sum[0];
            tokens += (long) sum[1];
        }
        return Math.exp(nll / Math.max(1, tokens));
    }
}
