package dev.graft.merge;

/**
 * DELLA-Merging (Deep et al., 2024): magnitude-ranked random dropping (MagPrune, see {@link RankedDrop}),
 * rescaling, sign election and disjoint merge. Parameters: per model {@code weight} (required),
 * {@code density} (1.0), {@code epsilon} (0.15); global {@code normalize} (on), {@code rescale} (on),
 * {@code lambda} (1.0).
 */
public final class Della extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public Della() {
        this(Convention.MERGEKIT);
    }

    public Della(Convention convention) {
        super("della", new RankedDrop(), true, true, true, convention);
    }
}
