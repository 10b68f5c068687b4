package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.Arrays;
import java.util.List;

/**
 * Drops entries of one task vector before the merge (TIES trimming, DARE dropping, breadcrumbs, DELLA). This
 * class does what they share: nothing to do at {@code density ≥ 1}, everything dropped at {@code density ≤ 0},
 * and the rescale of the kept entries: {@link Convention#MERGEKIT} matches the L1 norm of the original
 * ({@code δ̂·‖δ‖₁/‖δ̂‖₁}, skipped when either norm is below 1e-7); {@link Convention#PAPER} divides by the keep
 * probability, which each subclass applies in {@link #drop} since only it knows that probability.
 */
abstract class Sparsifier {
    /** The per-model parameters it reads besides {@code density} (none by default). */
    List<ParameterSpec> parameters() {
        return List.of();
    }

    /**
     * Zeroes the dropped entries of {@code delta} in place.
     *
     * @param divideByKeepProbability divide each kept entry by its probability of being kept (paper rescale)
     * @return how many entries were kept
     */
    abstract int drop(float[] delta, TensorInputs in, int model, double density, boolean divideByKeepProbability);

    /**
     * Sparsifies model {@code model}'s task vector {@code delta} in place.
     *
     * @return the fraction of entries dropped
     */
    final double apply(float[] delta, TensorInputs in, int model, Convention convention, boolean rescale) {
        double density = in.model(model, "density");
        int n = delta.length;
        if (density >= 1) {
            return 0;
        }
        if (density <= 0) {
            Arrays.fill(delta, 0f);
            return n == 0 ? 0 : 1;
        }
        boolean matchL1 = rescale && convention == Convention.MERGEKIT;
        double l1 = matchL1 ? l1(delta) : 0;
        int kept = drop(delta, in, model, density, rescale && convention == Convention.PAPER);
        if (matchL1) {
            matchL1(delta, l1);
        }
        return n == 0 ? 0 : 1 - (double) kept / n;
    }

    /** Multiplies every entry by {@code 1/p}, the paper rescale for a keep probability the same for all. */
    static void divide(float[] v, double p) {
        float f = (float) (1 / p);
        for (int i = 0; i < v.length; i++) {
            v[i] *= f;
        }
    }

    private static void matchL1(float[] kept, double originalL1) {
        double after = l1(kept);
        if (originalL1 < 1e-7 || after < 1e-7) {
            return;
        }
        float scale = (float) (originalL1 / after);
        for (int i = 0; i < kept.length; i++) {
            kept[i] *= scale;
        }
    }

    private static double l1(float[] v) {
        double s = 0;
        for (float x : v) {
            s += Math.abs(x);
        }
        return s;
    }
}
