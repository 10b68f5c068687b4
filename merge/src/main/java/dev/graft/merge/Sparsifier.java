package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.Arrays;
import java.util.List;

/**
 * Drops entries of one task vector before the merge (TIES trimming, DARE dropping, breadcrumbs, DELLA). A
 * sparsifier {@linkplain #decide decides} from the whole task vector (and, if it ranks by magnitude, the
 * histogram of magnitudes gathered while the task vector was computed) and returns a {@link Drop} that the
 * merge applies block by block, while the blocks are in cache. This class does what they share: nothing to do
 * at {@code density ≥ 1}, everything dropped at {@code density ≤ 0}, and the rescale of the kept entries:
 * {@link Convention#MERGEKIT} matches the L1 norm of the original ({@code δ̂·‖δ‖₁/‖δ̂‖₁}, skipped when either
 * norm is below 1e-7), which needs the whole drop carried out first; {@link Convention#PAPER} divides by the
 * keep probability, which each subclass applies in its drop since only it knows that probability.
 */
abstract class Sparsifier {
    /** The per-model parameters it reads besides {@code density} (none by default). */
    List<ParameterSpec> parameters() {
        return List.of();
    }

    /** Whether {@link #decide} needs the magnitude histogram of the task vector ({@link MagnitudeRank#count}). */
    boolean ranksByMagnitude(TensorInputs in) {
        return false;
    }

    /**
     * Decides which entries of model {@code model}'s task vector to drop; {@code delta} may be changed only by
     * a drop carried out at once (returned as {@link Drop#done}).
     *
     * @param magnitudes the histogram of {@code |delta|}, or null unless {@link #ranksByMagnitude}
     * @param divideByKeepProbability divide each kept entry by its probability of being kept (paper rescale)
     */
    abstract Drop decide(float[] delta, int[] magnitudes, TensorInputs in, int model, double density,
                         boolean divideByKeepProbability);

    /** Decides model {@code model}'s drop, carrying it out at once where the rescale needs the whole result. */
    final Drop prepare(float[] delta, int[] magnitudes, TensorInputs in, int model, Convention convention,
                       boolean rescale) {
        double density = in.model(model, "density");
        int n = delta.length;
        if (density >= 1) {
            return Drop.done(n);
        }
        if (density <= 0) {
            Arrays.fill(delta, 0f);
            return Drop.done(0);
        }
        if (!rescale || convention == Convention.PAPER) {
            return decide(delta, magnitudes, in, model, density, rescale);
        }
        double l1 = l1(delta);
        Drop drop = decide(delta, magnitudes, in, model, density, false);
        drop.apply(delta, 0, n);
        matchL1(delta, l1);
        return Drop.done(drop.kept());
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
