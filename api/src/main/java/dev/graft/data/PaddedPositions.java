package dev.graft.data;

import dev.graft.verify.ModelRunner;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Leaves padded positions out of a model's values. Text batches are padded to their longest sample, and an
 * {@code attention_mask} input of shape {@code [batch, length]} marks real tokens with 1 and padding with 0; a
 * statistic over a value must see only the rows of real tokens. Which axis of a value runs over positions is
 * learnt once per value, by running the first batch again with one more padded position ({@link #longer}):
 * <ul>
 *   <li>an axis {@code k ≥ 1} that grows by one while axis 0 stays the batch is the position axis: for each
 *   sample the real positions along {@code k} are kept, and the samples are joined along {@code k} (shape
 *   {@code [1, …, kept, …]});</li>
 *   <li>an axis 0 that grows by the batch size holds flattened (sample, position) rows: the real rows are kept;</li>
 *   <li>a value with no axis that grows (a pooled output) is kept whole;</li>
 *   <li>a value with several growing axes (attention scores) is kept whole too: it has no row per position.</li>
 * </ul>
 */
final class PaddedPositions {
    /** The mask input's name. */
    static final String MASK = "attention_mask";

    /** How one value lays out positions. */
    private record Layout(int axis, boolean flattened) {
        static final Layout WHOLE = new Layout(-1, false);
    }

    private final Map<String, Layout> layouts = new HashMap<>();

    private PaddedPositions() {
    }

    /** Whether {@code batch} carries an attention mask of shape {@code [batch, length]} with padding (zeros) in it. */
    static boolean masked(Map<String, ModelRunner.Input> batch) {
        ModelRunner.Input m = batch.get(MASK);
        return m != null && m.longs() != null && m.shape().length == 2
                && java.util.Arrays.stream(m.longs()).anyMatch(v -> v == 0);
    }

    /**
     * {@code batch} with one more position: every input of the mask's shape gets a column of zeros (a padded
     * token: id 0, mask 0, type 0).
     */
    static Map<String, ModelRunner.Input> longer(Map<String, ModelRunner.Input> batch) {
        long[] shape = batch.get(MASK).shape();
        int rows = (int) shape[0];
        int length = (int) shape[1];
        Map<String, ModelRunner.Input> out = new LinkedHashMap<>();
        batch.forEach((name, in) -> {
            if (!Arrays.equals(in.shape(), shape)) {
                out.put(name, in);
                return;
            }
            long[] grown = {rows, length + 1};
            if (in.longs() != null) {
                long[] v = new long[rows * (length + 1)];
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(in.longs(), r * length, v, r * (length + 1), length);
                }
                out.put(name, ModelRunner.Input.ofLongs(v, grown));
            } else {
                float[] v = new float[rows * (length + 1)];
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(in.floats(), r * length, v, r * (length + 1), length);
                }
                out.put(name, ModelRunner.Input.of(v, grown));
            }
        });
        return out;
    }

    /** Learns each value's layout from its shapes at the batch's length and at one more position. */
    static PaddedPositions learn(Map<String, ModelRunner.Output> atLength, Map<String, ModelRunner.Output> longer,
                                 long rows) {
        PaddedPositions p = new PaddedPositions();
        atLength.forEach((name, o) -> {
            ModelRunner.Output l = longer.get(name);
            p.layouts.put(name, l == null ? Layout.WHOLE : layout(o.shape(), l.shape(), rows));
        });
        return p;
    }

    private static Layout layout(long[] a, long[] b, long rows) {
        if (a.length != b.length || a.length == 0) {
            return Layout.WHOLE;
        }
        int grown = -1;
        for (int k = 0; k < a.length; k++) {
            if (a[k] != b[k]) {
                if (grown >= 0) {
                    return Layout.WHOLE; // several position axes: no row per position
                }
                grown = k;
            }
        }
        if (grown > 0 && b[grown] == a[grown] + 1 && a[0] == rows) {
            return new Layout(grown, false);
        }
        if (grown == 0 && b[0] == a[0] + rows) {
            return new Layout(0, true);
        }
        return Layout.WHOLE;
    }

    /** {@code outputs} with the padded positions of {@code mask} ({@code [rows, length]}) left out. */
    Map<String, ModelRunner.Output> unpadded(Map<String, ModelRunner.Output> outputs, ModelRunner.Input mask) {
        Map<String, ModelRunner.Output> out = new LinkedHashMap<>();
        outputs.forEach((name, o) -> out.put(name, unpadded(o, layouts.getOrDefault(name, Layout.WHOLE), mask)));
        return out;
    }

    private static ModelRunner.Output unpadded(ModelRunner.Output o, Layout layout, ModelRunner.Input mask) {
        if (layout.axis() < 0 || o.values() == null) {
            return o;
        }
        long[] m = mask.longs();
        int rows = (int) mask.shape()[0];
        int length = (int) mask.shape()[1];
        int kept = 0;
        for (long v : m) {
            kept += v != 0 ? 1 : 0;
        }
        if (kept == m.length) {
            return o;
        }
        long[] shape = o.shape();
        if (layout.flattened()) {
            int inner = (int) (o.values().length / shape[0]);
            float[] v = new float[kept * inner];
            int at = 0;
            for (int r = 0; r < rows * length; r++) {
                if (m[r] != 0) {
                    System.arraycopy(o.values(), r * inner, v, at, inner);
                    at += inner;
                }
            }
            long[] s = shape.clone();
            s[0] = kept;
            return new ModelRunner.Output(s, v);
        }
        int k = layout.axis();
        long outer = 1; // axes between the batch and the position axis
        for (int j = 1; j < k; j++) {
            outer *= shape[j];
        }
        long inner = 1; // axes after the position axis
        for (int j = k + 1; j < shape.length; j++) {
            inner *= shape[j];
        }
        float[] v = new float[(int) (outer * kept * inner)];
        int block = (int) inner;
        // joined along the position axis: [1, outer…, kept, inner…]; sample after sample within each outer index
        for (int q = 0; q < outer; q++) {
            int at = (int) (q * kept * inner);
            for (int r = 0; r < rows; r++) {
                for (int t = 0; t < length; t++) {
                    if (m[r * length + t] != 0) {
                        int from = (int) (((r * outer + q) * length + t) * inner);
                        System.arraycopy(o.values(), from, v, at, block);
                        at += block;
                    }
                }
            }
        }
        long[] s = shape.clone();
        s[0] = 1;
        s[k] = kept;
        return new ModelRunner.Output(s, v);
    }
}
