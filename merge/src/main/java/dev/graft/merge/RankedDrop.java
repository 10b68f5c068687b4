package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * DELLA's MagPrune (Deep et al., <i>DELLA-Merging: Reducing Interference in Model Merging through
 * Magnitude-Based Sampling</i>, 2024): within each row, entries ranked by magnitude ascending
 * ({@code r = 0 … len−1}, ties by index) are kept with probability
 * {@code p = density − ε + 2ε·r/(len−1)}, so small entries are dropped more often. Rows are PyTorch's rows
 * (see {@link Rows}). Parameter {@code epsilon} (per model, default 0.15;
 * {@code density ± ε} must lie in (0, 1)). Rescale (on by default): L1 match ({@link Convention#MERGEKIT}) or
 * each kept entry divided by its own {@code p} ({@link Convention#PAPER}).
 */
final class RankedDrop extends Sparsifier {
    @Override
    List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("epsilon", 0.15, "half-width of the keep probabilities around density")
                .within(0, 1));
    }

    @Override
    Drop decide(float[] delta, int[] magnitudes, TensorInputs in, int model, double density,
                boolean divideByKeepProbability) {
        double epsilon = in.model(model, "epsilon");
        if (density + epsilon >= 1 || density - epsilon <= 0) {
            throw new InvalidSettingException("DELLA on '" + in.tensor() + "': density ± epsilon must lie in (0, 1),"
                    + " got density " + density + " and epsilon " + epsilon);
        }
        Rows rows = Rows.of(in.shape(), in.inOutLayout(), delta.length);
        int len = rows.length();
        SplittableRandom random = in.random(model);
        long[] keys = new long[len];
        int kept = 0;
        for (int row = 0; row < rows.count(); row++) {
            for (int j = 0; j < len; j++) {
                int idx = rows.index(row, j);
                keys[j] = ((long) (Float.floatToRawIntBits(delta[idx]) & 0x7fffffff) << 32) | j;
            }
            Arrays.sort(keys);
            for (int r = 0; r < len; r++) {
                int idx = rows.index(row, (int) keys[r]);
                double p = density - epsilon + (len == 1 ? 0 : 2 * epsilon * r / (len - 1));
                if (random.nextDouble() >= p) {
                    delta[idx] = 0f;
                } else {
                    kept++;
                    if (divideByKeepProbability) {
                        delta[idx] = (float) (delta[idx] / p);
                    }
                }
            }
        }
        return Drop.done(kept); // ranks within rows: carried out here, on the whole tensor
    }
}
