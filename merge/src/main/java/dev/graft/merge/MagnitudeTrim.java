package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * TIES trimming: keeps the {@code k = ⌊density·n⌋} entries of largest magnitude (ties by index), by selection
 * in O(n); or, with {@code global_topk} (paper convention), the entries above the model-wide cut of
 * {@link ModelWideTopK}. Rescale (off by default for TIES): L1 match or {@code 1/density} by convention.
 */
final class MagnitudeTrim implements Sparsifier {
    @Override
    public List<ParameterSpec> parameters() {
        return List.of();
    }

    @Override
    public double apply(float[] delta, TensorInputs in, int model, Convention convention, boolean rescale) {
        double density = in.model(model, "density");
        if (density >= 1) {
            return 0;
        }
        int n = delta.length;
        double l1 = rescale ? Sparsifier.l1(delta) : 0;
        int kept;
        if (in.prepared() instanceof ModelWideTopK global) {
            MagnitudeRank.keepAbove(delta, global.cut(in.tensor(), model));
            kept = 0;
            for (float x : delta) {
                kept += x != 0 ? 1 : 0;
            }
        } else {
            kept = MagnitudeRank.keepTop(delta, (int) (density * n));
        }
        if (rescale) {
            Sparsifier.rescale(delta, l1, density, convention);
        }
        return n == 0 ? 0 : 1 - (double) kept / n;
    }
}
