package dev.graft.merge;

import dev.graft.plan.TensorInputs;
import java.util.SplittableRandom;

/**
 * DARE dropping (Yu et al., <i>Language Models are Super Mario: Absorbing Abilities from Homologous Models as a
 * Free Lunch</i>, ICML 2024): keeps each entry with probability {@code density}, from the tensor's own random
 * stream (seed, model index, tensor name), drawn in index order. Rescale (on by default): L1 match or
 * {@code 1/density} by convention.
 */
final class RandomDrop extends Sparsifier {
    @Override
    Drop decide(float[] delta, int[] magnitudes, TensorInputs in, int model, double density,
                boolean divideByKeepProbability) {
        SplittableRandom random = in.random(model);
        float scale = divideByKeepProbability ? (float) (1 / density) : 1f;
        return new Drop() {
            private long kept;

            @Override
            public void apply(float[] d, int first, int length) {
                for (int i = 0; i < length; i++) {
                    if (random.nextDouble() >= density) {
                        d[i] = 0f;
                    } else {
                        kept++;
                        d[i] *= scale;
                    }
                }
            }

            @Override
            public long kept() {
                return kept;
            }
        };
    }
}
