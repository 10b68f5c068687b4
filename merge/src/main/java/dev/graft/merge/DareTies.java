package dev.graft.merge;

/**
 * DARE with TIES sign election (Yu et al., <i>Language Models are Super Mario</i>, ICML 2024): DARE dropping
 * and rescaling, then sign election and disjoint merge as in {@link Ties}. Parameters: per model
 * {@code weight} (required), {@code density} (1.0); global {@code normalize} (off, as mergekit),
 * {@code rescale} (on), {@code lambda} (1.0).
 */
public final class DareTies extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public DareTies() {
        this(Convention.MERGEKIT);
    }

    public DareTies(Convention convention) {
        super("dare_ties", new RandomDrop(), true, false, true, convention);
    }
}
