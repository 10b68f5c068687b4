package dev.graft.eval;

import dev.graft.GraftException;
import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.data.NpyArray;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A task's own classification head, applied to the pooled output of a (merged) body: weights
 * {@code W} ({@code classes × width}) and a bias {@code b}, {@code logits = W·x + b}; or an ONNX model whose first
 * input takes the pooled outputs ({@code N × width}) and whose first output gives the logits. Multi-task merges
 * share the body and keep each task's head, as in the task-arithmetic and FusionBench evaluations.
 */
public final class Head {
    private final Path file;
    private final float[] weights;
    private final float[] bias;
    private final int classes;
    private final int width;

    private Head(Path file, float[] weights, float[] bias, int classes, int width) {
        this.file = file;
        this.weights = weights;
        this.bias = bias;
        this.classes = classes;
        this.width = width;
    }

    /** {@code logits = W·x + b} with {@code weights} row-major {@code classes × width}; {@code bias} may be null. */
    public static Head linear(float[] weights, float[] bias, int classes, int width) {
        if (weights.length != classes * width || (bias != null && bias.length != classes)) {
            throw new InvalidSettingException("a head of " + classes + " classes on " + width
                    + " features needs " + classes * width + " weights and " + classes + " biases, got "
                    + weights.length + " and " + (bias == null ? 0 : bias.length));
        }
        return new Head(null, weights.clone(), bias == null ? new float[classes] : bias.clone(), classes, width);
    }

    /**
     * Head weights from {@code .npy} files: {@code weights} of shape {@code [classes, width]} (float) and an optional
     * {@code bias} of shape {@code [classes]}.
     *
     * @throws GraftException naming the file if the arrays are not float or their shapes do not fit
     */
    public static Head read(Path weights, Path bias) {
        NpyArray w = NpyArray.read(weights);
        if (w.floats() == null || w.shape().length != 2) {
            throw new GraftException(weights, null, "a head's weights must be a float array [classes, width], got "
                    + Arrays.toString(w.shape()));
        }
        int classes = (int) w.shape()[0];
        float[] b = null;
        if (bias != null) {
            NpyArray a = NpyArray.read(bias);
            if (a.floats() == null || a.shape().length != 1 || a.shape()[0] != classes) {
                throw new GraftException(bias, null, "a head's bias must be a float array [" + classes
                        + "] (one per row of " + weights.getFileName() + "), got " + Arrays.toString(a.shape()));
            }
            b = a.floats();
        }
        return new Head(weights, w.floats(), b == null ? new float[classes] : b, classes, (int) w.shape()[1]);
    }

    /** Whether this is a linear head ({@code W·x + b}), not a model. */
    public boolean isLinear() {
        return weights != null;
    }

    /** A linear head's classes. */
    public int classes() {
        return classes;
    }

    /** A linear head's input width. */
    public int width() {
        return width;
    }

    /** A linear head's weights, row-major {@code classes × width} (a copy). */
    public float[] weights() {
        return weights.clone();
    }

    /** A linear head's bias (a copy). */
    public float[] bias() {
        return bias.clone();
    }

    /** The ONNX model in {@code file} as the head. */
    public static Head model(Path file) {
        return new Head(file, null, null, 0, 0);
    }

    /** The logits for {@code features} (one row per sample). */
    float[][] apply(float[][] features, Path model) {
        if (features.length == 0) {
            return features;
        }
        int in = features[0].length;
        if (weights == null) {
            float[] flat = new float[features.length * in];
            for (int i = 0; i < features.length; i++) {
                System.arraycopy(features[i], 0, flat, i * in, in);
            }
            try (ModelRunner head = new ModelRunner(file, 1)) {
                List<String> inputs = head.inputNames();
                ModelRunner.Output out = head.run(Map.of(inputs.get(0),
                        ModelRunner.Input.of(flat, features.length, in)), Set.of()).values().iterator().next();
                return Pooling.NONE.pool(out, null, file, head.outputNames().get(0));
            }
        }
        if (in != width) {
            throw new IncompatibleModelsException(model, null, "gives " + in + " features per sample; the head "
                    + (file == null ? "" : file.getFileName() + " ") + "takes " + width);
        }
        float[][] logits = new float[features.length][classes];
        for (int i = 0; i < features.length; i++) {
            for (int k = 0; k < classes; k++) {
                double s = bias[k];
                for (int c = 0; c < width; c++) {
                    s += (double) weights[k * width + c] * features[i][c];
                }
                logits[i][k] = (float) s;
            }
        }
        return logits;
    }
}
