package dev.graft.merge;

import dev.graft.plan.TensorInputs;

/**
 * TIES trimming: keeps the {@code k = ⌊density·n⌋} entries of largest magnitude (ties by index), by selection
 * in O(n); or, with {@code global_topk} (paper convention), the entries above the model-wide cut of
 * {@link ModelWideTopK}. Rescale (off by default for TIES): L1 match or {@code 1/density} by convention.
 */
final class MagnitudeTrim extends Sparsifier {
    @Override
    int drop(float[] delta, TensorInputs in, int model, double density, boolean divideByKeepProbability) {
        int kept;
        if (in.prepared() instanceof ModelWideTopK global) {
            MagnitudeRank.keepAbove(delta, global.cut(in.tensor(), model));
            kept = 0;
            for (float x : delta) {
                kept += x != 0 ? 1 : 0;
            }
        } else {
            kept = MagnitudeRank.keepTop(delta, (int) (density * delta.length));
        }
        if (divideByKeepProbability) {
            divide(delta, density);
        }
        return kept;
    }
}
