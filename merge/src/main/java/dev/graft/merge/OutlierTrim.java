package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Model Breadcrumbs trimming (Davari and Belilovsky, <i>Model Breadcrumbs: Scaling Multi-Task Model Merging
 * with Sparse Masks</i>, ECCV 2024): drops the {@code ⌊γ·n⌋} largest-magnitude entries (outliers), then the
 * smallest, so that {@code ⌊density·n⌋} remain; if that leaves too few, fewer outliers are dropped.
 * Parameter {@code gamma} (per model, default 0.01). Unlike mergekit, {@code ⌊γ·n⌋ = 0} drops no outliers
 * (mergekit's slice {@code [n_bot:-0]} keeps nothing then).
 */
final class OutlierTrim implements Sparsifier {
    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("gamma", 0.01, "fraction of largest-magnitude entries dropped"));
    }

    @Override
    public double apply(float[] delta, TensorInputs in, int model, Convention convention, boolean rescale) {
        double density = in.model(model, "density");
        if (density >= 1) {
            return 0;
        }
        int n = delta.length;
        int target = (int) (density * n);
        int top = (int) (in.model(model, "gamma") * n);
        if (n - target - top < 0) {
            top = n - target;
        }
        double l1 = rescale ? Sparsifier.l1(delta) : 0;
        int kept = MagnitudeRank.keepRanks(delta, top, top + target);
        if (rescale) {
            Sparsifier.rescale(delta, l1, density, convention);
        }
        return n == 0 ? 0 : 1 - (double) kept / n;
    }
}
