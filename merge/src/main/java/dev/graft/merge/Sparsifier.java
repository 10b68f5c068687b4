package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Drops entries of one task vector before the merge (TIES trimming, DARE dropping, breadcrumbs, DELLA).
 * Implementations zero the dropped entries in place and, when asked to rescale, scale the kept ones as the
 * convention says: {@link Convention#MERGEKIT} matches the L1 norm of the original, {@link Convention#PAPER}
 * divides by the keep probability.
 */
interface Sparsifier {
    /** The per-model parameters it reads (besides {@code density}). */
    List<ParameterSpec> parameters();

    /**
     * Sparsifies model {@code model}'s task vector {@code delta} in place.
     *
     * @return the fraction of entries dropped
     */
    double apply(float[] delta, TensorInputs in, int model, Convention convention, boolean rescale);

    /**
     * Rescales kept entries after dropping with keep probability {@code density}: L1 match for
     * {@link Convention#MERGEKIT} (given the original L1 norm), {@code 1/density} for {@link Convention#PAPER}.
     */
    static void rescale(float[] kept, double originalL1, double density, Convention convention) {
        if (convention == Convention.MERGEKIT) {
            matchL1(kept, originalL1);
        } else if (density > 0) {
            scale(kept, 1 / density);
        }
    }

    /** δ̂ · ‖δ‖₁/‖δ̂‖₁, unless either norm is below 1e-7 (mergekit's rescale). */
    static void matchL1(float[] kept, double originalL1) {
        double after = 0;
        for (float x : kept) {
            after += Math.abs(x);
        }
        if (originalL1 < 1e-7 || after < 1e-7) {
            return;
        }
        float scale = (float) (originalL1 / after);
        for (int i = 0; i < kept.length; i++) {
            kept[i] *= scale;
        }
    }

    static double l1(float[] v) {
        double s = 0;
        for (float x : v) {
            s += Math.abs(x);
        }
        return s;
    }

    static void scale(float[] v, double factor) {
        float f = (float) factor;
        for (int i = 0; i < v.length; i++) {
            v[i] *= f;
        }
    }
}
