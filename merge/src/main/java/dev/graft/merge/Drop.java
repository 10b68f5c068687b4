package dev.graft.merge;

/**
 * One model's decided sparsification of one task vector, applied block by block: {@link #apply} is called on
 * consecutive blocks in index order, covering the tensor once, so a drop may keep state (a random stream). It
 * zeroes the dropped entries and, where the convention says so, rescales the kept ones.
 */
interface Drop {
    /**
     * Zeroes (and rescales) the dropped entries of one block: {@code block[0, length)} holds entries
     * {@code [first, first + length)} of the task vector.
     */
    void apply(float[] block, int first, int length);

    /** How many entries were kept, once every range has been applied. */
    long kept();

    /** Drops every entry. */
    static Drop everything() {
        return new Drop() {
            @Override
            public void apply(float[] block, int first, int length) {
                java.util.Arrays.fill(block, 0, length, 0f);
            }

            @Override
            public long kept() {
                return 0;
            }
        };
    }

    /** A drop already carried out    /** A drop already carried out on the whole tensor (or nothing to drop): {@link #apply} does nothing. */
    static Drop done(long kept) {
        return new Drop() {
            @Override
            public void apply(float[] block, int first, int length) {
            }

            @Override
            public long kept() {
                return kept;
            }
        };
    }
}
