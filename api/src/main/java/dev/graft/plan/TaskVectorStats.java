package dev.graft.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Accumulates the task-vector part of {@link TensorDiagnostics} over one tensor, block by block: the dot
 * products of every pair of task vectors {@code δᵢ = θᵢ − θ₀} (giving norms and cosines) and the number of
 * entries where two of them are non-zero with opposite signs. A merge method that computes task vectors in
 * cache-sized blocks feeds them here as it goes ({@link MergeMethod#recordsTaskVectors}); otherwise
 * {@link #of} makes the blocks itself. Blocks of {@link #BLOCK} entries from the tensor's start give the same
 * result either way (float sums within a block, double sums across blocks).
 */
public final class TaskVectorStats {
    /** The block size in entries: task vectors of a block stay in L1 cache. */
    public static final int BLOCK = 2048;
    private final int models;
    private final boolean taskVectors;
    private final double[][] dots;
    private final int[] positive = new int[BLOCK];
    private final int[] negative = new int[BLOCK];
    private long conflicts;
    private long size;

    /**
     * @param models      number of models
     * @param taskVectors whether the vectors are task vectors (a merge with a base); without a base, sign
     *                    conflicts do not apply and norms and cosines are the models' own
     */
    public TaskVectorStats(int models, boolean taskVectors) {
        this.models = models;
        this.taskVectors = taskVectors;
        this.dots = new double[models][models];
    }

    /** Diagnostics of one tensor, before any trimming; {@code base} null gives those of the models themselves. */
    public static TensorDiagnostics of(String tensor, Integer layer, float[] base, float[][] models) {
        int m = models.length;
        int n = models[0].length;
        TaskVectorStats stats = new TaskVectorStats(m, base != null);
        float[][] d = new float[m][BLOCK];
        for (int start = 0; start < n; start += BLOCK) {
            int len = Math.min(BLOCK, n - start);
            for (int a = 0; a < m; a++) {
                float[] x = models[a];
                float[] da = d[a];
                for (int j = 0; j < len; j++) {
                    da[j] = x[start + j] - (base == null ? 0f : base[start + j]);
                }
            }
            stats.add(d, len);
        }
        return stats.finish(tensor, layer);
    }

    /** Adds the first {@code len} entries (at most {@link #BLOCK}) of each block-sized vector. */
    public void add(float[][] vectors, int len) {
        if (len > BLOCK) {
            throw new IllegalArgumentException("a block has at most " + BLOCK + " entries, got " + len);
        }
        size += len;
        for (int a = 0; a < models; a++) {
            for (int c = a; c < models; c++) {
                dots[a][c] += dot(vectors[a], vectors[c], len);
            }
        }
        if (!taskVectors || models < 2) {
            return;
        }
        // per entry: is some vector non-zero positive, is some vector non-zero negative (sign bits, no branches)
        java.util.Arrays.fill(positive, 0, len, 0);
        java.util.Arrays.fill(negative, 0, len, 0);
        for (int a = 0; a < models; a++) {
            float[] v = vectors[a];
            for (int j = 0; j < len; j++) {
                int bits = Float.floatToRawIntBits(v[j]);
                int nonZero = ((bits & 0x7fffffff) + 0x7fffffff) >>> 31;
                int sign = bits >>> 31;
                positive[j] |= nonZero & (sign ^ 1);
                negative[j] |= nonZero & sign;
            }
        }
        int count = 0;
        for (int j = 0; j < len; j++) {
            count += positive[j] & negative[j];
        }
        conflicts += count;
    }

    /** The diagnostics of everything added (trimmed shares are added by the method's recorder). */
    public TensorDiagnostics finish(String tensor, Integer layer) {
        List<Double> norms = new ArrayList<>();
        for (int a = 0; a < models; a++) {
            norms.add(Math.sqrt(dots[a][a]));
        }
        List<List<Double>> cosines = new ArrayList<>();
        for (int a = 0; a < models; a++) {
            List<Double> row = new ArrayList<>();
            for (int c = 0; c < models; c++) {
                double dot = a <= c ? dots[a][c] : dots[c][a];
                double denom = norms.get(a) * norms.get(c);
                row.add(denom == 0 ? null : dot / denom);
            }
            cosines.add(row);
        }
        return new TensorDiagnostics(tensor, layer, size, norms, cosines,
                !taskVectors || models < 2 ? null : (double) conflicts / size, Collections.nCopies(models, null));
    }

    /** Float accumulators within a block (four, so the loop pipelines), summed in double. */
    private static double dot(float[] x, float[] y, int len) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        int j = 0;
        for (; j + 3 < len; j += 4) {
            s0 += x[j] * y[j];
            s1 += x[j + 1] * y[j + 1];
            s2 += x[j + 2] * y[j + 2];
            s3 += x[j + 3] * y[j + 3];
        }
        for (; j < len; j++) {
            s0 += x[j] * y[j];
        }
        return (double) s0 + s1 + s2 + s3;
    }
}
