package dev.graft.align;

import java.util.List;

/**
 * The linear maps that carry a source model's units into a target's, one per permutation group of the target
 * (OTFusion's {@code M = diag(1/β)·Tᵀ}, {@code [target units, source units]}): a top-level group has one map; a group
 * nested in another (a head's dimensions within each head) has one map per pair of parent units, {@code (target
 * head j, source head i)}, used where the parent's map sends mass from {@code i} to {@code j}. A weight axis that is
 * the row-major product of several factors is carried by the product of its factors' maps (identity on a factor no
 * group permutes).
 */
final class UnitMaps {
    private final PermutationSpec spec;
    private final int[] sourceWidth;
    private final double[][] top;
    private final double[][][] nested;
    private final java.util.Map<List<PermutationSpec.Factor>, double[]> axisMaps =
            new java.util.concurrent.ConcurrentHashMap<>(); // the write carries weights on several threads

    UnitMaps(PermutationSpec target) {
        this.spec = target;
        int n = target.groups().size();
        this.sourceWidth = new int[n];
        this.top = new double[n][];
        this.nested = new double[n][][];
    }

    /** Sets top-level group {@code g}'s map ({@code [target, source]}) from {@code source} units. */
    void set(int g, double[] map, int source) {
        top[g] = map;
        sourceWidth[g] = source;
    }

    /**
     * Sets nested group {@code c}'s maps, one per (target parent unit, source parent unit) pair
     * ({@code j·sourceParents + i}; null where the parent sends no mass), each {@code [target, source]}.
     */
    void setNested(int c, double[][] maps, int source) {
        nested[c] = maps;
        sourceWidth[c] = source;
    }

    boolean planned(int g) {
        return top[g] != null || nested[g] != null;
    }

    /** The source model's width of group {@code g} (known once planned). */
    int sourceWidth(int g) {
        return sourceWidth[g];
    }

    /**
     * {@code values} (the source's, of {@code shape}) carried into the target's units on every grouped axis but
     * {@code skip} (-1 for none); null if a group of such an axis has no map yet.
     */
    float[] carry(float[] values, long[] shape, List<PermutationSpec.PermutedAxis> axes, int skip) {
        float[] v = values;
        long[] s = shape.clone();
        for (PermutationSpec.PermutedAxis p : axes == null ? List.<PermutationSpec.PermutedAxis>of() : axes) {
            if (p.axis() == skip || p.factors().stream().allMatch(f -> f.group() < 0)) {
                continue;
            }
            double[] map = axisMap(p);
            if (map == null) {
                return null;
            }
            int to = targetSize(p);
            v = applyOnAxis(v, s, p.axis(), map, (int) s[p.axis()], to);
        }
        return v;
    }

    /** The size of {@code axis} in the target. */
    static int targetSize(PermutationSpec.PermutedAxis axis) {
        return axis.factors().stream().mapToInt(PermutationSpec.Factor::size).reduce(1, (x, y) -> x * y);
    }

    /** The size of factor {@code f} of {@code axis} in the source. */
    int sourceSize(PermutationSpec.Factor f) {
        return f.group() < 0 ? f.size() : sourceWidth[f.group()];
    }

    /** The map of a whole axis ({@code [target size, source size]}), or null if a factor's group has none yet. */
    double[] axisMap(PermutationSpec.PermutedAxis axis) {
        double[] known = axisMaps.get(axis.factors()); // a group's map never changes once set
        if (known != null) {
            return known;
        }
        double[] map = buildAxisMap(axis);
        if (map != null) {
            axisMaps.put(axis.factors(), map);
        }
        return map;
    }

    private double[] buildAxisMap(PermutationSpec.PermutedAxis axis) {
        List<PermutationSpec.Factor> factors = axis.factors();
        int m = factors.size();
        int[] t = new int[m];
        int[] s = new int[m];
        int[] parentAt = new int[m];
        int to = 1;
        int from = 1;
        for (int k = 0; k < m; k++) {
            PermutationSpec.Factor f = factors.get(k);
            if (f.group() >= 0 && !planned(f.group())) {
                return null;
            }
            t[k] = f.size();
            s[k] = sourceSize(f);
            parentAt[k] = -1;
            if (f.group() >= 0 && spec.groups().get(f.group()).nested()) {
                int parent = spec.groups().get(f.group()).parent();
                for (int q = 0; q < k; q++) {
                    if (factors.get(q).group() == parent) {
                        parentAt[k] = q;
                    }
                }
                if (parentAt[k] < 0) {
                    throw new IllegalStateException("nested group " + f.group() + " without its parent on " + axis);
                }
            }
            to *= t[k];
            from *= s[k];
        }
        double[] map = new double[Math.multiplyExact(to, from)];
        int[] tj = new int[m];
        int[] si = new int[m];
        for (int j = 0; j < to; j++) {
            digits(j, t, tj);
            for (int i = 0; i < from; i++) {
                digits(i, s, si);
                double e = 1;
                for (int k = 0; k < m && e != 0; k++) {
                    e *= entry(factors.get(k), tj, si, k, s, parentAt[k]);
                }
                map[j * from + i] = e;
            }
        }
        return map;
    }

    private double entry(PermutationSpec.Factor f, int[] tj, int[] si, int k, int[] s, int parentAt) {
        if (f.group() < 0) {
            return tj[k] == si[k] ? 1 : 0;
        }
        int g = f.group();
        if (parentAt < 0) {
            return top[g][tj[k] * sourceWidth[g] + si[k]];
        }
        double[] block = nested[g][tj[parentAt] * s[parentAt] + si[parentAt]];
        return block == null ? 0 : block[tj[k] * sourceWidth[g] + si[k]];
    }

    private static void digits(int index, int[] sizes, int[] out) {
        for (int k = sizes.length - 1; k >= 0; k--) {
            out[k] = index % sizes[k];
            index /= sizes[k];
        }
    }

    /**
     * {@code values} of {@code shape} with axis {@code axis} (length {@code from}) mapped by {@code map}
     * ({@code [to, from]}) to length {@code to}; {@code shape} is updated.
     */
    static float[] applyOnAxis(float[] values, long[] shape, int axis, double[] map, int from, int to) {
        int outer = product(shape, 0, axis);
        int inner = product(shape, axis + 1, shape.length);
        float[] out = new float[outer * to * inner];
        for (int j = 0; j < to; j++) {
            for (int i = 0; i < from; i++) {
                double m = map[j * from + i];
                if (m == 0) {
                    continue;
                }
                for (int o = 0; o < outer; o++) {
                    int src = (o * from + i) * inner;
                    int dst = (o * to + j) * inner;
                    for (int k = 0; k < inner; k++) {
                        out[dst + k] += (float) (m * values[src + k]);
                    }
                }
            }
        }
        shape[axis] = to;
        return out;
    }

    /** The product of {@code shape[from]} to {@code shape[to - 1]}. */
    static int product(long[] shape, int from, int to) {
        int p = 1;
        for (int d = from; d < to; d++) {
            p *= (int) shape[d];
        }
        return p;
    }
}
