package dev.graft.merge;

/**
 * DARE with linear combination (Yu et al., <i>Language Models are Super Mario</i>, ICML 2024): drop each
 * task-vector entry with probability {@code 1 − density}, rescale the rest, then {@code θ = θ₀ + λ·Σ wᵢδ̂ᵢ}
 * (divided by {@code Σ wᵢ} if {@code normalize}). Parameters: per model {@code weight} (required),
 * {@code density} (1.0); global {@code normalize} (off), {@code rescale} (on), {@code lambda} (1.0). Random but
 * reproducible: see {@link RandomDrop}.
 */
public final class DareLinear extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public DareLinear() {
        this(Convention.MERGEKIT);
    }

    public DareLinear(Convention convention) {
        super("dare_linear", new RandomDrop(), false, false, true, convention);
    }
}
