package dev.graft.pleas;

import dev.graft.align.Permutations;
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
     * Maps activations to the merged units: {@code actA} is {@code outer × nA × inner} row-major (A's own units
     * along the middle axis; {@code inner} = 1 for rows of features, {@code h·w} for channels), {@code actB} the
     * same with {@code nB}; the result is {@code outer × width × inner}.
     */
    float[] map(float[] actA, float[] actB, int outer, int nA, int nB, int inner) {
        int width = width();
        float[] out = new float[outer * width * inner];
        for (int r = 0; r < outer; r++) {
            for (int u = 0; u < width; u++) {
                int to = (r * width + u) * inner;
                int fromA = (r * nA + a[u]) * inner;
                int fromB = (r * nB + b[u]) * inner;
                if (a[u] >= 0 && b[u] >= 0) {
                    for (int s = 0; s < inner; s++) {
                        out[to + s] = 0.5f * (actA[fromA + s] + actB[fromB + s]);
                    }
                } else if (a[u] >= 0) {
                    System.arraycopy(actA, fromA, out, to, inner);
                } else {
                    System.arraycopy(actB, fromB, out, to, inner);
                }
            }
        }
        return out;
    }

    /** A group merged whole: A's unit {@code i} with B's unit {@code perm[i]}. */
    static UnitMap permutation(int[] perm) {
        double[] one = new double[perm.length];
        Arrays.fill(one, 1);
        return new UnitMap(Permutations.identity(perm.length), perm.clone(), one);
    }

    /** A fixed axis: one unit per position, the two models averaged. */
    static UnitMap shared(int n) {
        return permutation(Permutations.identity(n));
    }

    /** Each model's units kept apart: A's {@code nA}, then B's {@code nB} (the outputs of two heads). */
    static UnitMap separate(int nA, int nB) {
        int[] a = new int[nA + nB];
        int[] b = new int[nA + nB];
        for (int u = 0; u < nA + nB; u++) {
            a[u] = u < nA ? u : -1;
            b[u] = u < nA ? -1 : u - nA;
        }
        return new UnitMap(a, b, new double[nA + nB]);
    }

    /**
     * The units of an axis that is the row-major product of {@code factors} (outermost first): a unit is a tuple
     * of the factors' units, and belongs to a model when each of its parts does.
     */
    static UnitMap product(List<UnitMap> factors) {
        int[] pa = {0};
        int[] pb = {0};
        double[] ps = {1};
        for (UnitMap f : factors) {
            int w = f.width();
            int[] na = new int[pa.length * w];
            int[] nb = new int[pa.length * w];
            double[] ns = new double[pa.length * w];
            int fa = f.sourceWidth(true);
            int fb = f.sourceWidth(false);
            for (int o = 0; o < pa.length; o++) {
                for (int u = 0; u < w; u++) {
                    int k = o * w + u;
                    na[k] = pa[o] >= 0 && f.a[u] >= 0 ? pa[o] * fa + f.a[u] : -1;
                    nb[k] = pb[o] >= 0 && f.b[u] >= 0 ? pb[o] * fb + f.b[u] : -1;
                    ns[k] = Math.min(ps[o], f.similarity[u]);
                }
            }
            pa = na;
            pb = nb;
            ps = ns;
        }
        return new UnitMap(pa, pb, ps);
    }

    /** How many units of A's ({@code first}) or B's axis this map reads from: the largest index + 1. */
    private int sourceWidth(boolean first) {
        int max = -1;
        for (int i : first ? a : b) {
            max = Math.max(max, i);
        }
        return max + 1;
    }
}
