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

    /** The cut after the {@code r} largest: entries with bits above {@code bits}, plus the first {@code take} equal. */
    record Cut(int bits, int take) {
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
        Cut upper = cut(v, from);
        Cut lower = cut(v, to);
        int seenUpper = 0;
        int seenLower = 0;
        for (int i = 0; i < n; i++) {
            int b = Float.floatToRawIntBits(v[i]) & 0x7fffffff;
            boolean aboveLower = b > lower.bits || (b == lower.bits && seenLower++ < lower.take);
            boolean aboveUpper = b > upper.bits || (b == upper.bits && seenUpper++ < upper.take);
            if (!aboveLower || aboveUpper) {
                v[i] = 0f;
            }
        }
        return to - from;
    }

    /** Keeps the {@code k} largest-magnitude entries, zeroing the rest. */
    static int keepTop(float[] v, int k) {
        return keepRanks(v, 0, k);
    }

    /** Where the top {@code r} entries end. */
    static Cut cut(float[] v, int r) {
        int n = v.length;
        if (r <= 0) {
            return new Cut(Integer.MAX_VALUE, 0);
        }
        if (r >= n) {
            return new Cut(-1, 0);
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
        return new Cut((bin << 16) | l, need - before2);
    }
}
