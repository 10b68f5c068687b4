package dev.graft.merge;

/**
 * Model Breadcrumbs (Davari and Belilovsky, ECCV 2024): drop the largest {@code γ} share and the smallest
 * entries of each task vector to reach {@code density}, then combine linearly. Parameters: per model
 * {@code weight} (required), {@code density} (1.0), {@code gamma} (0.01); global {@code normalize} (off),
 * {@code rescale} (off), {@code lambda} (1.0). See {@link OutlierTrim}.
 */
public final class Breadcrumbs extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public Breadcrumbs() {
        this(Convention.MERGEKIT);
    }

    public Breadcrumbs(Convention convention) {
        super("breadcrumbs", new OutlierTrim(), false, false, false, convention);
    }
}
