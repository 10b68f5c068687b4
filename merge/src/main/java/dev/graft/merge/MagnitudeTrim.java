package dev.graft.merge;

import dev.graft.plan.TensorInputs;

/**
 * TIES trimming: keeps the {@code k = ⌊density·n⌋} entries of largest magnitude (ties by index), by selection
 * in O(n); or, with {@code global_topk} (paper convention), the entries above the model-wide cut of
 * {@link ModelWideTopK}. Rescale (off by default for TIES): L1 match or {@code 1/density} by convention.
 */
final class MagnitudeTrim extends Sparsifier {
    @Override
    boolean ranksByMagnitude(TensorInputs in) {
        return !(in.prepared() instanceof ModelWideTopK);
    }

    @Override
    Drop decide(float[] delta, int[] magnitudes, TensorInputs in, int model, double density,
                boolean divideByKeepProbability) {
        float scale = divideByKeepProbability ? (float) (1 / density) : 1f;
        if (in.prepared() instanceof ModelWideTopK global) {
            Drop above = MagnitudeRank.between(delta, global.cut(in.tensor(), model), MagnitudeRank.Cut.TOP, 0, scale);
            return new Drop() { // the model-wide cut does not say how many of this tensor's entries it keeps
                private long kept;

                @Override
                public void apply(float[] d, int first, int length) {
                    above.apply(d, first, length);
                    for (int i = 0; i < length; i++) {
                        kept += d[i] != 0 ? 1 : 0;
                    }
                }

                @Override
                public long kept() {
                    return kept;
                }
            };
        }
        int k = (int) (density * delta.length);
        return MagnitudeRank.between(delta, MagnitudeRank.cut(delta, magnitudes, k), MagnitudeRank.Cut.TOP, k, scale);
    }
}
