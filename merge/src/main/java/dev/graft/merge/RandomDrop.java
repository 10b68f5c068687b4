package dev.graft.merge;

import dev.graft.plan.TensorInputs;
import java.util.SplittableRandom;

/**
 * DARE dropping (Yu et al., <i>Language Models are Super Mario: Absorbing Abilities from Homologous Models as a
 * Free Lunch</i>, ICML 2024): keeps each entry with probability {@code density}, from the tensor's own random
 * stream (seed, model index, tensor name). Rescale (on by default): L1 match or {@code 1/density} by convention.
 */
final class RandomDrop extends Sparsifier {
    @Override
    int drop(float[] delta, TensorInputs in, int model, double density, boolean divideByKeepProbability) {
        SplittableRandom random = in.random(model);
        int kept = 0;
        for (int i = 0; i < delta.length; i++) {
            if (random.nextDouble() >= density) {
                delta[i] = 0f;
            } else {
                kept++;
            }
        }
        if (divideByKeepProbability) {
            divide(delta, density);
        }
        return kept;
    }
}
