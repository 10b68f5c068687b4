package dev.graft.merge;

/**
 * Model Breadcrumbs with TIES sign election: {@link Breadcrumbs} trimming, then the election and disjoint
 * merge of {@link Ties}. Parameters: per model {@code weight} (required), {@code density} (1.0),
 * {@code gamma} (0.01); global {@code normalize} (off), {@code rescale} (off), {@code lambda} (1.0).
 */
public final class BreadcrumbsTies extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public BreadcrumbsTies() {
        this(Convention.MERGEKIT);
    }

    public BreadcrumbsTies(Convention convention) {
        super("breadcrumbs_ties", new OutlierTrim(), true, false, false, convention);
    }
}
