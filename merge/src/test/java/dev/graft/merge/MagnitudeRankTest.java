package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MagnitudeRankTest {
    /**
     * The straightforward definition: sort indices by |v| descending, then by index; keep ranks [from, to).
     * (Sorted as keys: magnitude bits inverted in the high word, the index in the low word.)
     */
    private static float[] bySorting(float[] v, int from, int to) {
        long[] keys = new long[v.length];
        for (int i = 0; i < v.length; i++) {
            long magnitude = Float.floatToRawIntBits(Math.abs(v[i]));
            keys[i] = ((0x7fffffffL - magnitude) << 32) | i;
        }
        Arrays.sort(keys);
        float[] out = new float[v.length];
        for (int r = from; r < to; r++) {
            int i = (int) keys[r];
            out[i] = v[i];
        }
        return out;
    }

    @Test
    void selectionMatchesSortingIncludingTies() {
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(200);
            float[] v = new float[n];
            boolean ties = trial % 2 == 0;
            for (int i = 0; i < n; i++) {
                v[i] = ties ? r.nextInt(-4, 5) * 0.5f : (float) (r.nextGaussian() * Math.pow(10, r.nextInt(-5, 5)));
            }
            int from = r.nextInt(n + 1);
            int to = from + r.nextInt(n - from + 1);
            float[] got = v.clone();
            MagnitudeRank.keepRanks(got, from, to);
            assertThat(got).as("n=%d from=%d to=%d", n, from, to).containsExactly(bySorting(v, from, to));
        }
    }

    @Test
    void largeSelectionWithTiesMatchesSorting() {
        SplittableRandom r = new SplittableRandom(9);
        int n = 280_000;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextInt(-40, 41) * 0.25f;
        }
        float[] got = v.clone();
        MagnitudeRank.keepRanks(got, n / 7, n / 2);
        assertThat(Arrays.equals(got, bySorting(v, n / 7, n / 2))).isTrue();
    }
}
