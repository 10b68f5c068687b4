package dev.graft.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Accumulates the task-vector part of {@link TensorDiagnostics} over one tensor, block by block: the dot
 * products of every pair of task vectors {@code δᵢ = θᵢ − θ₀} (giving norms and cosines), the number of
 * entries where two of them are non-zero with opposite signs, and for each the number of entries where it has
 * the opposite sign to {@code Σᵢ δᵢ} (it is outvoted). A merge method that computes task vectors in
 * cache-sized blocks feeds them here as it goes ({@link MergeMethod#recordsTaskVectors}); otherwise
 * {@link #of} makes the blocks itself. Blocks of {@link #BLOCK} entries from the tensor's start give the same
 * result either way.
 *
 * <p>Sums run "vertically": position {@code j} of every block adds into lane {@code j} of an accumulator, so
 * that the loops have no reduction and the JIT vectorises them; lanes are summed in float over
 * {@value #BLOCKS_PER_FLUSH} blocks at most, then in double.
 */
public final class TaskVectorStats {
    /** The block size in entries: task vectors of a block stay in L1 cache. */
    public static final int BLOCK = 2048;
    private static final int BLOCKS_PER_FLUSH = 64;
    private final int models;
    private final boolean taskVectors;
    private final double[][] dots;
    private final float[][][] lanes;
    private final float[] largest = new float[BLOCK];
    private final float[] smallest = new float[BLOCK];
    private final float[] conflictLanes = new float[BLOCK];
    private final float[] total = new float[BLOCK];
    private final float[][] outvotedLanes;
    private final double[] outvoted;
    private double conflicts;
    private long size;
    private int pending;

    /**
     * @param models      number of models
     * @param taskVectors whether the vectors are task vectors (a merge with a base); without a base, sign
     *                    conflicts do not apply and norms and cosines are the models' own
     */
    public TaskVectorStats(int models, boolean taskVectors) {
        this.models = models;
        this.taskVectors = taskVectors;
        this.dots = new double[models][models];
        this.lanes = new float[models][models][];
        this.outvotedLanes = new float[models][BLOCK];
        this.outvoted = new double[models];
        for (int a = 0; a < models; a++) {
            for (int c = a; c < models; c++) {
                lanes[a][c] = new float[BLOCK];
            }
        }
    }

    /** Diagnostics of one tensor, before any trimming; {@code base} null gives those of the models themselves. */
    public static TensorDiagnostics of(String tensor, Integer layer, float[] base, float[][] models) {
        TaskVectorStats stats = new TaskVectorStats(models.length, base != null);
        stats.addValues(base, models, models[0].length);
        return stats.finish(tensor, layer);
    }

    /**
     * Adds the first {@code length} entries of each model's values (their task vectors when {@code base} is not
     * null), block by block: a tensor added in slices whose lengths are multiples of {@link #BLOCK} gives the same
     * diagnostics as added whole. The arrays are not changed.
     */
    public void addValues(float[] base, float[][] models, int length) {
        int m = models.length;
        float[][] d = new float[m][BLOCK];
        float[] b = new float[BLOCK];
        for (int start = 0; start < length; start += BLOCK) {
            int len = Math.min(BLOCK, length - start);
            if (base != null) {
                System.arraycopy(base, start, b, 0, len);
            }
            for (int a = 0; a < m; a++) {
                float[] da = d[a];
                System.arraycopy(models[a], start, da, 0, len);
                if (base != null) {
                    for (int j = 0; j < len; j++) {
                        da[j] -= b[j];
                    }
                }
            }
            add(d, len);
        }
    }

    /** Adds the first {@code len} entries (at most {@link #BLOCK}) of each block-sized vector. */
    public void add(float[][] vectors, int len) {
        if (len > BLOCK) {
            throw new IllegalArgumentException("a block has at most " + BLOCK + " entries, got " + len);
        }
        size += len;
        for (int a = 0; a < models; a++) {
            float[] x = vectors[a];
            for (int c = a; c < models; c++) {
                float[] y = vectors[c];
                float[] lane = lanes[a][c];
                for (int j = 0; j < len; j++) {
                    lane[j] += x[j] * y[j];
                }
            }
        }
        if (taskVectors && models >= 2) {
            // an entry conflicts when the largest vector entry is positive and the smallest negative
            System.arraycopy(vectors[0], 0, largest, 0, len);
            System.arraycopy(vectors[0], 0, smallest, 0, len);
            System.arraycopy(vectors[0], 0, total, 0, len);
            for (int a = 1; a < models; a++) {
                float[] v = vectors[a];
                for (int j = 0; j < len; j++) {
                    largest[j] = Math.max(largest[j], v[j]);
                    smallest[j] = Math.min(smallest[j], v[j]);
                    total[j] += v[j];
                }
            }
            for (int j = 0; j < len; j++) {
                conflictLanes[j] += step(Math.min(largest[j], -smallest[j]));
            }
            for (int a = 0; a < models; a++) {
                float[] v = vectors[a];
                float[] lane = outvotedLanes[a];
                for (int j = 0; j < len; j++) {
                    lane[j] += step(-v[j] * total[j]);
                }
            }
        }
        if (++pending == BLOCKS_PER_FLUSH) {
            flush();
        }
    }

    /** Moves the float lanes into the double totals. */
    private void flush() {
        for (int a = 0; a < models; a++) {
            for (int c = a; c < models; c++) {
                dots[a][c] += sum(lanes[a][c]);
            }
        }
        conflicts += sum(conflictLanes); // exact: whole numbers below 2^24
        for (int a = 0; a < models; a++) {
            outvoted[a] += sum(outvotedLanes[a]);
        }
        pending = 0;
    }

    private static double sum(float[] lane) {
        double s = 0;
        for (int j = 0; j < lane.length; j++) {
            s += lane[j];
            lane[j] = 0f;
        }
        return s;
    }

    /** Exactly 1 for {@code t > 0}, 0 otherwise, without branches. */
    private static float step(float t) {
        return Math.min((t + Math.abs(t)) * 0x1p100f * 0x1p49f, 1f);
    }

    /** The diagnostics of everything added (trimmed shares are added by the method's recorder). */
    public TensorDiagnostics finish(String tensor, Integer layer) {
        flush();
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
        boolean signs = taskVectors && models >= 2;
        List<Double> outvotedShares = new ArrayList<>();
        for (int a = 0; a < models; a++) {
            outvotedShares.add(signs ? outvoted[a] / size : null);
        }
        return new TensorDiagnostics(tensor, layer, size, norms, cosines, signs ? conflicts / size : null,
                outvotedShares, Collections.nCopies(models, null));
    }
}
