package dev.graft.merge;

/**
 * DELLA without sign election: MagPrune dropping and rescaling (see {@link RankedDrop}), then
 * {@code θ = θ₀ + λ·Σ wᵢδ̂ᵢ}. Parameters: per model {@code weight} (required), {@code density} (1.0),
 * {@code epsilon} (0.15); global {@code normalize} (off), {@code rescale} (on), {@code lambda} (1.0).
 */
public final class DellaLinear extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public DellaLinear() {
        this(Convention.MERGEKIT);
    }

    public DellaLinear(Convention convention) {
        super("della_linear", new RankedDrop(), false, false, true, convention);
    }
}
