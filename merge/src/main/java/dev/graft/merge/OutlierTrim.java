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
final class OutlierTrim extends Sparsifier {
    @Override
    List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("gamma", 0.01, "fraction of largest-magnitude entries dropped")
                .within(0, 1));
    }

    @Override
    boolean ranksByMagnitude(TensorInputs in) {
        return true;
    }

    @Override
    Drop decide(float[] delta, int[] magnitudes, TensorInputs in, int model, double density,
                boolean divideByKeepProbability) {
        int n = delta.length;
        int target = (int) (density * n);
        int top = Math.min((int) (in.model(model, "gamma") * n), n - target);
        return MagnitudeRank.between(delta, MagnitudeRank.cut(delta, magnitudes, top + target),
                MagnitudeRank.cut(delta, magnitudes, top), target,
                divideByKeepProbability ? (float) (1 / density) : 1f);
    }
}
