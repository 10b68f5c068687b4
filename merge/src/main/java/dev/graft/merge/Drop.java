package dev.graft.merge;

/**
 * One model's decided sparsification of one task vector, applied block by block: {@link #apply} is called on
 * consecutive ranges {@code [from, to)} in index order, covering the tensor once, so a drop may keep state
 * (a random stream, a count of ties at a magnitude cut). It zeroes the dropped entries and, where the
 * convention says so, rescales the kept ones.
 */
interface Drop {
    /** Zeroes (and rescales) the entries {@code [from, to)} of {@code delta}. */
    void apply(float[] delta, int from, int to);

    /** How many entries were kept, once every range has been applied. */
    long kept();

    /** A drop already carried out on the whole tensor (or nothing to drop): {@link #apply} does nothing. */
    static Drop done(long kept) {
        return new Drop() {
            @Override
            public void apply(float[] delta, int from, int to) {
            }

            @Override
            public long kept() {
                return kept;
            }
        };
    }
}
