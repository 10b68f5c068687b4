package dev.graft.eval;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * How a task turns a model output into one vector per sample. A {@code [batch, positions, width]} output (a text
 * encoder's {@code last_hidden_state}) is pooled over its positions: {@link #MEAN} over the real tokens (the
 * {@code attention_mask}'s ones), {@link #CLS} the first position, {@link #LAST} the last real token (decoders);
 * {@link #NONE} takes each sample's values as they are (a classifier's {@code [batch, classes]} logits).
 * {@link #AUTO}, the default, is {@code MEAN} for three-dimensional outputs and {@code NONE} otherwise.
 */
public enum Pooling {
    AUTO, NONE, MEAN, CLS, LAST;

    /** The pooling named {@code name} ({@code auto}, {@code none}, {@code mean}, {@code cls}, {@code last}). */
    public static Pooling named(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidSettingException("unknown pooling '" + name + "' (known: auto, none, mean, cls, last)");
        }
    }

    /**
     * One row per sample of {@code out}; {@code mask} is the batch's attention mask ({@code batch × positions}, or
     * null: every position is real).
     */
    public float[][] pool(ModelRunner.Output out, long[] mask, Path model, String output) {
        long[] shape = out.shape();
        int batch = (int) shape[0];
        Pooling how = this == AUTO ? (shape.length == 3 ? MEAN : NONE) : this;
        float[] v = out.values();
        if (how == NONE) {
            int width = v.length / Math.max(1, batch);
            float[][] rows = new float[batch][];
            for (int b = 0; b < batch; b++) {
                rows[b] = Arrays.copyOfRange(v, b * width, (b + 1) * width);
            }
            return rows;
        }
        if (shape.length != 3) {
            throw new IncompatibleModelsException(model, output, "has shape " + Arrays.toString(shape) + "; "
                    + name().toLowerCase(Locale.ROOT) + " pooling needs [batch, positions, width]");
        }
        int positions = (int) shape[1];
        int width = (int) shape[2];
        if (mask != null && mask.length != batch * positions) {
            throw new IncompatibleModelsException(model, output, "has " + positions + " positions per sample but "
                    + "the attention mask has " + mask.length / Math.max(1, batch));
        }
        float[][] rows = new float[batch][width];
        for (int b = 0; b < batch; b++) {
            int real = 0;
            int last = 0;
            for (int t = 0; t < positions; t++) {
                if (mask == null || mask[b * positions + t] != 0) {
                    real++;
                    last = t;
                    if (how == MEAN) {
                        int at = (b * positions + t) * width;
                        for (int c = 0; c < width; c++) {
                            rows[b][c] += v[at + c];
                        }
                    }
                }
            }
            if (how == MEAN) {
                for (int c = 0; c < width; c++) {
                    rows[b][c] /= Math.max(1, real);
                }
            } else {
                int t = how == CLS ? 0 : last;
                System.arraycopy(v, (b * positions + t) * width, rows[b], 0, width);
            }
        }
        return rows;
    }
}
