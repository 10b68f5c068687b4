package dev.graft.merge;

/**
 * TIES-Merging (Yadav et al., <i>TIES-Merging: Resolving Interference When Merging Models</i>, NeurIPS 2023):
 * trim each task vector to its {@code ⌊density·n⌋} largest-magnitude entries, elect a sign per entry, and
 * average the agreeing entries: {@code θ = θ₀ + λ·τ} (see {@link TaskVectorMerge} and {@link Convention}).
 * Parameters: per model {@code weight} (required), {@code density} (1.0); global {@code normalize} (on),
 * {@code rescale} (off), {@code lambda} (1.0).
 */
public final class Ties extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public Ties() {
        this(Convention.MERGEKIT);
    }

    public Ties(Convention convention) {
        super("ties", new MagnitudeTrim(), true, true, false, convention);
    }
}
