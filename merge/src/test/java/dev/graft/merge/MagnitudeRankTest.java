package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class MagnitudeRankTest {
    /** The straightforward definition: sort indices by |v| descending, then index; keep ranks [from, to). */
    private static float[] bySorting(float[] v, int from, int to) {
        Integer[] order = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.<Integer>comparingDouble(i -> -Math.abs(v[i])).thenComparingInt(i -> i));
        float[] out = new float[v.length];
        for (int r = from; r < to; r++) {
            out[order[r]] = v[order[r]];
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
}
