package dev.graft.eval;

import dev.graft.InvalidSettingException;
import dev.graft.exec.Threads;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Accuracy or mean cross-entropy of a classifier on given inputs: the model's first input gets {@code inputs}
 * ({@code N × features}, float32) and its output {@code output} (or the first) is read as {@code N × classes}
 * logits; {@code labels} are class indexes. Cross-entropy is {@code −mean log softmax(logits)[label]}.
 */
public final class ClassificationEvaluator implements Evaluator {
    private final float[] inputs;
    private final long[] inputShape;
    private final int[] labels;
    private final boolean loss;
    private final String output;

    private ClassificationEvaluator(float[] inputs, long[] inputShape, int[] labels, boolean loss, String output) {
        if (inputShape[0] != labels.length) {
            throw new InvalidSettingException(inputShape[0] + " inputs but " + labels.length + " labels");
        }
        this.inputs = inputs;
        this.inputShape = inputShape.clone();
        this.labels = labels.clone();
        this.loss = loss;
        this.output = output;
    }

    /** Accuracy on {@code inputs} of shape {@code shape} (first dimension: samples). */
    public static ClassificationEvaluator accuracy(float[] inputs, long[] shape, int[] labels) {
        return new ClassificationEvaluator(inputs, shape, labels, false, null);
    }

    /** Mean cross-entropy on the same kind of data. */
    public static ClassificationEvaluator crossEntropy(float[] inputs, long[] shape, int[] labels) {
        return new ClassificationEvaluator(inputs, shape, labels, true, null);
    }

    /** The same, reading the logits from output {@code name}. */
    public ClassificationEvaluator output(String name) {
        return new ClassificationEvaluator(inputs, inputShape, labels, loss, name);
    }

    @Override
    public String name() {
        return loss ? "cross-entropy" : "accuracy";
    }

    @Override
    public boolean higherIsBetter() {
        return !loss;
    }

    @Override
    public double evaluate(Path model) {
        float[] logits = logits(model);
        int n = labels.length;
        int classes = logits.length / n;
        double total = 0;
        for (int i = 0; i < n; i++) {
            int best = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < classes; c++) {
                if (logits[i * classes + c] > max) {
                    max = logits[i * classes + c];
                    best = c;
                }
            }
            if (loss) {
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    sum += Math.exp(logits[i * classes + c] - max);
                }
                total += Math.log(sum) + max - logits[i * classes + labels[i]];
            } else {
                total += best == labels[i] ? 1 : 0;
            }
        }
        return total / n;
    }

    /** The logits the model gives for the inputs ({@code N × classes}, row-major). */
    public float[] logits(Path model) {
        try (ModelRunner runner = new ModelRunner(model, Threads.modelRuns())) {
            String input = runner.inputNames().get(0);
            Map<String, ModelRunner.Output> out = runner.run(Map.of(input, ModelRunner.Input.of(inputs, inputShape)),
                    output == null ? Set.of() : Set.of(output));
            return out.values().iterator().next().values();
        }
    }
}
