package dev.graft.merge;

import dev.graft.plan.SlicedMerge;
import dev.graft.plan.TaskVectorStats;
import dev.graft.plan.TensorInputs;

/**
 * The task-vector merge of {@link TaskVectorMerge} on a tensor read in slices, with the same result value for
 * value: task arithmetic in one pass; per-tensor TIES trimming decided in two passes over the whole tensor first.
 * Pass 0 counts each task vector's magnitude histogram ({@link MagnitudeRank#count}) and records the diagnostics;
 * pass 1 counts the entries in the bin where rank {@code ⌊density·n⌋} falls, which gives the cut. Then each slice
 * is trimmed ({@link MagnitudeRank#above}: entries equal to the cut are taken by index, counted as they come) and
 * combined ({@link TaskVectorMerge.Combination}) block by block.
 */
final class SlicedTaskVectorMerge implements SlicedMerge {
    private final TensorInputs in;
    private final boolean trim;
    private final boolean electSigns;
    private final Convention convention;
    private final int models;
    private final int n;
    private final int[][] high;
    private final int[][] low;
    private final MagnitudeRank.Bin[] bins;
    private final Drop[] drops;
    private TaskVectorMerge.Combination combination;

    SlicedTaskVectorMerge(TensorInputs in, boolean trim, boolean electSigns, Convention convention) {
        this.in = in;
        this.trim = trim;
        this.electSigns = electSigns;
        this.convention = convention;
        this.models = in.modelCount();
        this.n = in.size();
        this.high = new int[models][];
        this.low = new int[models][];
        this.bins = new MagnitudeRank.Bin[models];
        this.drops = new Drop[models];
        for (int i = 0; i < models; i++) {
            if (trim && trims(i)) {
                high[i] = new int[MagnitudeRank.BINS];
            }
        }
    }

    /** Whether model {@code i}'s task vector is trimmed by rank (density in (0, 1), something to keep). */
    private boolean trims(int i) {
        double density = in.model(i, "density");
        return density > 0 && density < 1 && keep(i) > 0 && keep(i) < n;
    }

    private int keep(int i) {
        return (int) (in.model(i, "density") * n);
    }

    @Override
    public boolean needsPass(int done) {
        if (!trim || done > 1) {
            return false;
        }
        if (done == 1) {
            for (int i = 0; i < models; i++) {
                if (high[i] != null) {
                    bins[i] = MagnitudeRank.bin(high[i], keep(i));
                    low[i] = new int[1 << 16];
                }
            }
        }
        return true;
    }

    @Override
    public void observe(int pass, float[] base, float[][] values, int first, int length) {
        subtract(base, values, length);
        TaskVectorStats stats = in.diagnostics().taskVectors();
        if (pass == 0 && stats != null) {
            stats.addValues(null, values, length);
        }
        for (int i = 0; i < models; i++) {
            if (high[i] == null) {
                continue;
            }
            if (pass == 0) {
                MagnitudeRank.count(values[i], 0, length, high[i]);
            } else {
                bins[i].count(values[i], 0, length, low[i]);
            }
        }
    }

    @Override
    public void merge(float[] base, float[][] values, int first, int length, float[] out) {
        if (combination == null) {
            decide();
        }
        subtract(base, values, length);
        TaskVectorStats stats = in.diagnostics().taskVectors();
        if (!trim && stats != null) {
            stats.addValues(null, values, length);
        }
        combination.merge(base, values, drops, first, length, out);
    }

    /** Each model's drop, from the passes (as {@link Sparsifier#prepare} decides it on a whole tensor). */
    private void decide() {
        boolean rescale = in.flag("rescale");
        float[] w = new float[models];
        for (int i = 0; i < models; i++) {
            w[i] = (float) in.model(i, "weight");
            double density = in.model(i, "density");
            if (!trim || density >= 1) {
                drops[i] = Drop.done(n);
            } else if (density <= 0) {
                drops[i] = Drop.everything();
            } else {
                float scale = rescale ? (float) (1 / density) : 1f;
                int k = keep(i);
                MagnitudeRank.Cut cut = high[i] != null ? bins[i].cut(low[i])
                        : k <= 0 ? MagnitudeRank.Cut.TOP : MagnitudeRank.Cut.BOTTOM;
                drops[i] = MagnitudeRank.above(cut, n, k, scale);
            }
        }
        combination = new TaskVectorMerge.Combination(w, in, electSigns, convention);
    }

    @Override
    public void finish() {
        if (trim) {
            for (int i = 0; i < models; i++) {
                in.diagnostics().trimmed(i, n == 0 ? 0 : 1 - (double) drops[i].kept() / n);
            }
        }
    }

    /** The task vectors {@code δᵢ = θᵢ − θ₀} of a slice, in place. */
    private void subtract(float[] base, float[][] values, int length) {
        for (int i = 0; i < models; i++) {
            float[] v = values[i];
            for (int j = 0; j < length; j++) {
                v[j] -= base[j];
            }
        }
    }
}
