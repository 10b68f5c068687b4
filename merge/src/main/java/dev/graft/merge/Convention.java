package dev.graft.merge;

import dev.graft.InvalidSettingException;
import java.util.Locale;

/**
 * The two conventions for the task-vector family that exist in the wild (see the README's table):
 * <ul>
 *   <li>{@link #MERGEKIT}: sign election on the weighted sum {@code Σ wᵢδ̂ᵢ} (ties go to +), disjoint merge
 *   {@code Σ wᵢδ̂ᵢmᵢ / Σ wᵢmᵢ} when normalizing, rescale after dropping by matching the L1 norm
 *   {@code δ̂·‖δ‖₁/‖δ̂‖₁};</li>
 *   <li>{@link #PAPER} (TIES and DARE papers, PEFT, FusionBench): sign election on the unweighted sum
 *   {@code Σ δ̂ᵢ} (or on the count of signs), disjoint merge as the mean over the agreeing entries
 *   {@code Σ wᵢδ̂ᵢmᵢ / Σ mᵢ}, rescale by the keep probability {@code δ̂ / p}.</li>
 * </ul>
 * Trimming keeps {@code k = ⌊density·n⌋} entries per tensor in both.
 */
public enum Convention {
    MERGEKIT,
    PAPER;

    /**
     * The convention called {@code name}, in any case.
     *
     * @throws InvalidSettingException if {@code name} is neither mergekit nor paper
     */
    public static Convention parse(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidSettingException("unknown convention '" + name + "' (expected mergekit or paper)");
        }
    }
}
