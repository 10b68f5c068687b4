package dev.graft.merge;

import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;
import java.util.SplittableRandom;

/**
 * DARE dropping (Yu et al., <i>Language Models are Super Mario: Absorbing Abilities from Homologous Models as a
 * Free Lunch</i>, ICML 2024): keeps each entry with probability {@code density}, from the tensor's own random
 * stream (seed, model index, tensor name). Rescale (on by default): L1 match or {@code 1/density} by convention.
 */
final class RandomDrop implements Sparsifier {
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
        double l1 = rescale ? Sparsifier.l1(delta) : 0;
        SplittableRandom random = in.random(model);
        int dropped = 0;
        for (int i = 0; i < delta.length; i++) {
            if (random.nextDouble() >= density) {
                delta[i] = 0f;
                dropped++;
            }
        }
        if (rescale) {
            Sparsifier.rescale(delta, l1, density, convention);
        }
        return delta.length == 0 ? 0 : (double) dropped / delta.length;
    }
}
