package dev.graft.merge;

/**
 * Selection by magnitude without sorting: the entries of a tensor ranked by {@code |v|} descending (ties by
 * index, so results are deterministic) are split at any rank in O(n) by a two-level histogram over the bits of
 * {@code |v|} (for non-negative floats, the bit patterns order like the values). No index arrays; the
 * histograms are reused per thread.
 */
final class MagnitudeRank {
    private static final ThreadLocal<int[]> HIGH = ThreadLocal.withInitial(() -> new int[1 << 15]);
    private static final ThreadLocal<int[]> LOW = ThreadLocal.withInitial(() -> new int[1 << 16]);

    private MagnitudeRank() {
    }

    /**
     * The cut after the {@code r} largest: entries with bits above {@code bits}, plus the first {@code take} of
     * the {@code equal} entries with exactly those bits.
     */
    record Cut(int bits, int take, int equal) {
        /** True when the entries at the cut all fall on one side, so no index order is needed. */
        boolean clean() {
            return take == 0 || take == equal;
        }

        float value() {
            return Float.intBitsToFloat(bits);
        }
    }

    /**
     * Zeroes every entry of {@code v} except those whose descending-magnitude rank lies in {@code [from, to)}.
     *
     * @return how many entries were kept ({@code to − from})
     */
    static int keepRanks(float[] v, int from, int to) {
        int n = v.length;
        from = Math.max(0, Math.min(n, from));
        to = Math.max(from, Math.min(n, to));
        if (from == 0 && to == n) {
            return n;
        }
        keep(v, cut(v, to), cut(v, from));
        return to - from;
    }

    /** Keeps the entries above {@code lower} (a cut computed elsewhere, e.g. over a whole model). */
    static void keepAbove(float[] v, Cut lower) {
        keep(v, lower, new Cut(Integer.MAX_VALUE, 0, 0));
    }

    /** Keeps the entries above {@code lower} and not above {@code upper}. */
    private static void keep(float[] v, Cut lower, Cut upper) {
        if (upper.clean() && lower.clean()) {
            keepBetween(v, lower, upper);
            return;
        }
        int n = v.length;
        int lo = lower.bits;
        int up = upper.bits;
        int seenUpper = 0;
        int seenLower = 0;
        for (int i = 0; i < n; i++) {
            float x = v[i];
            int b = Float.floatToRawIntBits(x) & 0x7fffffff;
            if (b == lo || b == up) { // exact ties at a cut: rare, decided by index order
                boolean aboveLower = b > lo || (b == lo && seenLower++ < lower.take);
                boolean aboveUpper = b > up || (b == up && seenUpper++ < upper.take);
                v[i] = aboveLower && !aboveUpper ? x : 0f;
            } else {
                v[i] = b > lo && b < up ? x : 0f;
            }
        }
    }

    /**
     * The clean case in one branch-free pass over the bits: keep iff {@code L ≤ |x|bits ≤ U}, the bounds made
     * inclusive from each cut's side; {@code ~((bits − L) | (U − bits)) >> 31} is all ones exactly then (no
     * overflow: both differences stay within int), and masking the raw bits turns dropped entries into +0.
     */
    private static void keepBetween(float[] v, Cut lower, Cut upper) {
        int low = lower.bits < 0 ? 0 : lower.bits == Integer.MAX_VALUE ? Integer.MAX_VALUE
                : lower.take == 0 ? lower.bits + 1 : lower.bits; // all at the cut kept, or none
        int high = upper.bits < 0 ? -1 : upper.bits == Integer.MAX_VALUE ? Integer.MAX_VALUE
                : upper.take == 0 ? upper.bits : upper.bits - 1; // none at the cut above, or all
        if (lower.bits == Integer.MAX_VALUE) {
            high = -1; // no entry ranks above the lower cut: keep nothing
        }
        for (int i = 0; i < v.length; i++) {
            int raw = Float.floatToRawIntBits(v[i]);
            int b = raw & 0x7fffffff;
            int keep = ~(((b - low) | (high - b)) >> 31);
            v[i] = Float.intBitsToFloat(raw & keep);
        }
    }

    /** Keeps the {@code k} largest-magnitude entries, zeroing the rest. */
    static int keepTop(float[] v, int k) {
        return keepRanks(v, 0, k);
    }

    /** Where the top {@code r} entries end. */
    static Cut cut(float[] v, int r) {
        int n = v.length;
        if (r <= 0) {
            return new Cut(Integer.MAX_VALUE, 0, 0);
        }
        if (r >= n) {
            return new Cut(-1, 0, 0);
        }
        int[] high = HIGH.get();
        java.util.Arrays.fill(high, 0);
        for (float x : v) {
            high[(Float.floatToRawIntBits(x) & 0x7fffffff) >>> 16]++;
        }
        int before = 0;
        int bin = high.length - 1;
        while (before + high[bin] < r) {
            before += high[bin];
            bin--;
        }
        int need = r - before;
        int[] low = LOW.get();
        java.util.Arrays.fill(low, 0);
        for (float x : v) {
            int b = Float.floatToRawIntBits(x) & 0x7fffffff;
            if (b >>> 16 == bin) {
                low[b & 0xffff]++;
            }
        }
        int before2 = 0;
        int l = low.length - 1;
        while (before2 + low[l] < need) {
            before2 += low[l];
            l--;
        }
        return new Cut((bin << 16) | l, need - before2, low[l]);
    }
}
