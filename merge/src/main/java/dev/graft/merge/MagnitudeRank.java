package dev.graft.merge;

/**
 * Selection by magnitude without sorting: the entries of a tensor ranked by {@code |v|} descending (ties by
 * index, so results are deterministic) are split at any rank in O(n) by a two-level histogram over the bits of
 * {@code |v|} (for non-negative floats, the bit patterns order like the values). The first level
 * ({@link #count}) can be gathered while the values are produced; the second is one more pass that looks only
 * at the entries in the first level's cut bin. No index arrays and no sorting.
 */
final class MagnitudeRank {
    /** Size of the first-level histogram: the 15 high bits of {@code |v|}. */
    static final int BINS = 1 << 15;
    private static final ThreadLocal<int[]> LOW = ThreadLocal.withInitial(() -> new int[1 << 16]);

    private MagnitudeRank() {
    }

    /**
     * The cut after the {@code r} largest: entries with bits above {@code bits}, plus the first {@code take} of
     * the {@code equal} entries with exactly those bits.
     */
    record Cut(int bits, int take, int equal) {
        /** The cut above every entry (rank 0). */
        static final Cut TOP = new Cut(Integer.MAX_VALUE, 0, 0);
        /** The cut below every entry (rank n). */
        static final Cut BOTTOM = new Cut(-1, 0, 0);

        /** True when the entries at the cut all fall on one side, so no index order is needed. */
        boolean clean() {
            return take == 0 || take == equal;
        }
    }

    /** Adds {@code |v[from, to)|} to {@code high}, the first-level histogram (of {@link #BINS} entries). */
    static void count(float[] v, int from, int to, int[] high) {
        for (int i = from; i < to; i++) {
            high[(Float.floatToRawIntBits(v[i]) & 0x7fffffff) >>> 16]++;
        }
    }

    /** Where the top {@code r} entries of {@code v} end; {@code high} is {@link #count} over all of {@code v}. */
    static Cut cut(float[] v, int[] high, int r) {
        int n = v.length;
        if (r <= 0) {
            return Cut.TOP;
        }
        if (r >= n) {
            return Cut.BOTTOM;
        }
        Bin bin = bin(high, r);
        int[] low = LOW.get();
        java.util.Arrays.fill(low, 0);
        bin.count(v, 0, n, low);
        return bin.cut(low);
    }

    /**
     * The first-level bin where rank {@code r} (0 < r < n) falls, and how many of its entries the top {@code r}
     * take: the second level of a cut, counted over the entries in this bin ({@link #count(float[], int, int,
     * int[])}, all at once or range by range), then {@link #cut(int[])}.
     */
    record Bin(int bin, int need) {
        /** Adds the low bits of those entries of {@code v[from, to)} in this bin to {@code low} (2^16 entries). */
        void count(float[] v, int from, int to, int[] low) {
            for (int i = from; i < to; i++) {
                int b = Float.floatToRawIntBits(v[i]) & 0x7fffffff;
                if (b >>> 16 == bin) {
                    low[b & 0xffff]++;
                }
            }
        }

        /** The cut, given the second-level histogram of the whole tensor's entries in this bin. */
        Cut cut(int[] low) {
            int before = 0;
            int l = low.length - 1;
            while (before + low[l] < need) {
                before += low[l];
                l--;
            }
            return new Cut((bin << 16) | l, need - before, low[l]);
        }
    }

    /** The first-level bin of rank {@code r} (0 < r < n) in {@code high}, the {@link #count} of a whole tensor. */
    static Bin bin(int[] high, int r) {
        int before = 0;
        int bin = high.length - 1;
        while (before + high[bin] < r) {
            before += high[bin];
            bin--;
        }
        return new Bin(bin, r - before);
    }

    /**
     * A drop that keeps the entries of {@code v} ranked below {@code upper} and above {@code lower} (two cuts of
     * {@code v}), multiplying them by {@code scale}.
     */
    static Drop between(float[] v, Cut lower, Cut upper, long kept, float scale) {
        return new Between(lower, upper, lastTaken(v, lower), lastTaken(v, upper), kept, scale);
    }

    /**
     * A drop that keeps the top of a tensor of {@code n} entries not held whole, down to {@code cut} ({@code kept}
     * entries), multiplying them by {@code scale}. Blocks must come in index order: the entries equal to the cut
     * are counted as they come, and taken while the cut still takes them.
     */
    static Drop above(Cut cut, int n, long kept, float scale) {
        LastTaken last = new LastTaken(cut, n);
        return new Drop() {
            @Override
            public void apply(float[] block, int first, int length) {
                if (!last.known()) {
                    last.count(block, first, length);
                }
                // until the last taken entry is seen, every equal entry so far is taken
                int lastTaken = last.known() ? last.index() : first + length;
                new Between(cut, Cut.TOP, lastTaken, -1, kept, scale).apply(block, first, length);
            }

            @Override
            public long kept() {
                return kept;
            }
        };
    }

    /** Keeps the entries of {@code v} whose descending-magnitude rank lies in {@code [from, to)}, zeroing the rest. */
    static int keepRanks(float[] v, int from, int to) {
        int n = v.length;
        from = Math.max(0, Math.min(n, from));
        to = Math.max(from, Math.min(n, to));
        if (from == 0 && to == n) {
            return n;
        }
        int[] high = new int[BINS];
        count(v, 0, n, high);
        between(v, cut(v, high, to), cut(v, high, from), to - from, 1f).apply(v, 0, n);
        return to - from;
    }

    /**
     * The index of the last entry a cut takes among those with exactly its bits (they are taken in index
     * order), or -1 when it takes none of them; {@code v.length} when it takes all.
     */
    private static int lastTaken(float[] v, Cut cut) {
        LastTaken last = new LastTaken(cut, v.length);
        last.count(v, 0, v.length);
        return last.index();
    }

    /**
     * The index of the last entry a cut takes among those with exactly its bits, found over consecutive ranges of
     * a tensor of {@code n} entries: -1 when it takes none, {@code n} when it takes all.
     */
    static final class LastTaken {
        private final Cut cut;
        private int seen;
        private int index;

        LastTaken(Cut cut, int n) {
            this.cut = cut;
            this.index = cut.take == 0 ? -1 : cut.take == cut.equal ? n : Integer.MIN_VALUE;
        }

        /** Whether the index is known without looking at the entries. */
        boolean known() {
            return index != Integer.MIN_VALUE;
        }

        /** Looks at {@code v[0, length)}, entries {@code [first, first + length)} of the tensor. */
        void count(float[] v, int first, int length) {
            for (int i = 0; i < length && !known(); i++) {
                if ((Float.floatToRawIntBits(v[i]) & 0x7fffffff) == cut.bits && ++seen == cut.take) {
                    index = first + i;
                }
            }
        }

        int index() {
            if (!known()) {
                throw new IllegalStateException("cut takes " + cut.take + " entries with bits " + cut.bits
                        + ", found " + seen);
            }
            return index;
        }
    }

    /**
     * Keeps an entry iff its magnitude bits lie in {@code [low, high]}, bounds that change only where a cut
     * stops taking entries equal to it ({@code lowerLast}, {@code upperLast}): each range splits there into
     * segments with fixed bounds, each done by one branch-free loop.
     */
    private static final class Between implements Drop {
        private final Cut lower;
        private final Cut upper;
        private final int lowerLast;
        private final int upperLast;
        private final long kept;
        private final float scale;

        Between(Cut lower, Cut upper, int lowerLast, int upperLast, long kept, float scale) {
            this.lower = lower;
            this.upper = upper;
            this.lowerLast = lowerLast;
            this.upperLast = upperLast;
            this.kept = kept;
            this.scale = scale;
        }

        @Override
        public long kept() {
            return kept;
        }

        @Override
        public void apply(float[] v, int first, int length) {
            int start = first;
            int to = first + length;
            while (start < to) {
                int end = to;
                if (lowerLast >= start && lowerLast + 1 < end) {
                    end = lowerLast + 1;
                }
                if (upperLast >= start && upperLast + 1 < end) {
                    end = upperLast + 1;
                }
                keep(v, start - first, end - first, low(start <= lowerLast), high(start <= upperLast));
                start = end;
            }
        }

        /** The smallest kept bits: entries equal to the lower cut are kept while it still takes them. */
        private int low(boolean takingEqual) {
            if (lower.bits < 0) {
                return 0;
            }
            if (lower.bits == Integer.MAX_VALUE) {
                return Integer.MAX_VALUE;
            }
            return takingEqual ? lower.bits : lower.bits + 1;
        }

        /** The largest kept bits: entries equal to the upper cut rank above it while it still takes them. */
        private int high(boolean takingEqual) {
            if (lower.bits == Integer.MAX_VALUE || upper.bits < 0) {
                return -1; // nothing ranks above the top cut, or below the bottom one
            }
            if (upper.bits == Integer.MAX_VALUE) {
                return Integer.MAX_VALUE;
            }
            return takingEqual ? upper.bits - 1 : upper.bits;
        }

        /**
         * One pass without branches: keep iff {@code low ≤ |x|bits ≤ high}, that is {@code |x| > below} and
         * {@code |x| < above} for the neighbouring floats, with {@link #step} giving exactly 1 or 0 (a dropped
         * entry becomes +0, kept ones {@code x·scale}). Float arithmetic, not bit masks: the JIT vectorises it.
         */
        private void keep(float[] v, int from, int to, int low, int high) {
            float s = scale;
            if (high < low) {
                java.util.Arrays.fill(v, from, to, 0f);
                return;
            }
            float below = low == 0 ? -1f : Float.intBitsToFloat(low - 1);
            if (high >= 0x7f800000) { // no upper bound
                for (int i = from; i < to; i++) {
                    float x = v[i];
                    v[i] = x * step(Math.abs(x) - below) * s + 0f; // + 0 makes a dropped -0 into +0
                }
            } else {
                float above = Float.intBitsToFloat(high + 1);
                for (int i = from; i < to; i++) {
                    float x = v[i];
                    float a = Math.abs(x);
                    v[i] = x * (step(a - below) * step(above - a)) * s + 0f;
                }
            }
        }
    }

    /** Exactly 1 for {@code t > 0} (subnormals included), 0 otherwise: {@code min((t + |t|)·2¹⁴⁹, 1)}. */
    static float step(float t) {
        return Math.min((t + Math.abs(t)) * 0x1p100f * 0x1p49f, 1f);
    }
}
