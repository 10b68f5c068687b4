package dev.graft.pleas;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The units of one merged hidden dimension: each either a merged pair (A's unit {@code a} with B's matched
 * unit {@code b}), or a unit kept from one model alone ({@code b = -1} or {@code a = -1}). Merged pairs come
 * first (in A's order), then A's kept units, then B's. A merged unit carries the average of the two
 * activations, a kept one its model's own.
 */
record UnitMap(int[] a, int[] b, double[] similarity) {
    int width() {
        return a.length;
    }

    /**
     * From a matching of A's {@code n} units to B's ({@code match[i]} is A's unit i's partner, {@code
     * similarity[i]} their correlation): the {@code kept} least similar pairs are split, the rest merged.
     */
    static UnitMap of(int[] match, double[] similarity, int kept) {
        int n = match.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (x, y) -> Double.compare(similarity[x], similarity[y])); // least similar first
        boolean[] split = new boolean[n];
        for (int k = 0; k < kept; k++) {
            split[order[k]] = true;
        }
        List<int[]> units = new ArrayList<>();
        List<Double> sims = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (!split[i]) {
                units.add(new int[] {i, match[i]});
                sims.add(similarity[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            if (split[i]) {
                units.add(new int[] {i, -1});
                sims.add(similarity[i]);
            }
        }
        for (int i = 0; i < n; i++) {
            if (split[i]) {
                units.add(new int[] {-1, match[i]});
                sims.add(similarity[i]);
            }
        }
        int[] ua = new int[units.size()];
        int[] ub = new int[units.size()];
        double[] s = new double[units.size()];
        for (int u = 0; u < ua.length; u++) {
            ua[u] = units.get(u)[0];
            ub[u] = units.get(u)[1];
            s[u] = sims.get(u);
        }
        return new UnitMap(ua, ub, s);
    }

    /** How many pairs are merged. */
    int merged() {
        int m = 0;
        for (int u = 0; u < a.length; u++) {
            m += a[u] >= 0 && b[u] >= 0 ? 1 : 0;
        }
        return m;
    }

    /**
     * Maps rows of activations ({@code rows × n}, each model's own units along the row) to the merged units
     * ({@code rows × width}).
     */
    float[] map(float[] actA, float[] actB, int rows, int n) {
        float[] out = new float[rows * width()];
        for (int r = 0; r < rows; r++) {
            for (int u = 0; u < width(); u++) {
                float v;
                if (a[u] >= 0 && b[u] >= 0) {
                    v = 0.5f * (actA[r * n + a[u]] + actB[r * n + b[u]]);
                } else if (a[u] >= 0) {
                    v = actA[r * n + a[u]];
                } else {
                    v = actB[r * n + b[u]];
                }
                out[r * width() + u] = v;
            }
        }
        return out;
    }

    /** The identity-like map of a fixed axis: one unit per position, the two models averaged. */
    static UnitMap shared(int n) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        double[] one = new double[n];
        Arrays.fill(one, 1);
        return new UnitMap(idx, idx.clone(), one);
    }
}
