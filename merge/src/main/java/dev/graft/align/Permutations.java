package dev.graft.align;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One permutation per group of a {@link PermutationSpec}, applied to weights: with {@code π} the permutation of
 * a group, unit {@code i} of the permuted model is unit {@code π[i]} of the original, in every member axis. An
 * axis made of several factors is permuted by their row-major Kronecker product (identity for fixed factors).
 * Applying the same permutations to every weight of a model leaves its function unchanged.
 */
public final class Permutations {
    private final PermutationSpec spec;
    private final int[][] perms;

    private Permutations(PermutationSpec spec, int[][] perms) {
        this.spec = spec;
        this.perms = perms;
    }

    /** The identity for every group. */
    public static Permutations identity(PermutationSpec spec) {
        int[][] p = new int[spec.groups().size()][];
        for (int g = 0; g < p.length; g++) {
            p[g] = identity(spec.groups().get(g).size());
        }
        return new Permutations(spec, p);
    }

    /** Uniformly random permutations from {@code seed}. */
    public static Permutations random(PermutationSpec spec, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Permutations p = identity(spec);
        for (int[] perm : p.perms) {
            for (int i = perm.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
        }
        return p;
    }

    static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        return p;
    }

    public PermutationSpec spec() {
        return spec;
    }

    /** Group {@code g}'s permutation (a copy). */
    public int[] get(int g) {
        return perms[g].clone();
    }

    /** The same with group {@code g} set to {@code perm}. */
    public Permutations with(int g, int[] perm) {
        if (perm.length != perms[g].length) {
            throw new IllegalArgumentException("group '" + spec.groups().get(g).name() + "' has "
                    + perms[g].length + " units, not " + perm.length);
        }
        int[][] copy = perms.clone();
        copy[g] = perm.clone();
        return new Permutations(spec, copy);
    }

    /** Each group's permutation after this one's: {@code (this then other)[i] = this[other[i]]}. */
    public Permutations then(Permutations other) {
        int[][] out = new int[perms.length][];
        for (int g = 0; g < perms.length; g++) {
            out[g] = new int[perms[g].length];
            for (int i = 0; i < out[g].length; i++) {
                out[g][i] = perms[g][other.perms[g][i]];
            }
        }
        return new Permutations(spec, out);
    }

    /** The inverse permutations. */
    public Permutations inverse() {
        int[][] out = new int[perms.length][];
        for (int g = 0; g < perms.length; g++) {
            out[g] = new int[perms[g].length];
            for (int i = 0; i < out[g].length; i++) {
                out[g][perms[g][i]] = i;
            }
        }
        return new Permutations(spec, out);
    }

    /**
     * For one permuted axis: destination index → source index along it, the Kronecker product of its factors'
     * permutations (identity where a factor is fixed or is group {@code skip}).
     */
    int[] axisMap(PermutationSpec.PermutedAxis axis, int skip) {
        int[] map = {0};
        for (PermutationSpec.Factor f : axis.factors()) {
            int[] p = f.group() < 0 || f.group() == skip ? identity(f.size()) : perms[f.group()];
            int[] next = new int[map.length * f.size()];
            for (int o = 0; o < map.length; o++) {
                for (int i = 0; i < f.size(); i++) {
                    next[o * f.size() + i] = map[o] * f.size() + p[i];
                }
            }
            map = next;
        }
        return map;
    }

    /** {@code values} of a weight of {@code shape} with its permuted axes permuted (a new array). */
    public float[] apply(String weight, long[] shape, float[] values) {
        return apply(weight, shape, values, -1);
    }

    /** As {@link #apply(String, long[], float[])}, leaving group {@code skip} (its factors) unpermuted. */
    float[] apply(String weight, long[] shape, float[] values, int skip) {
        List<PermutationSpec.PermutedAxis> axes = spec.byWeight().getOrDefault(weight, List.of());
        int[][] maps = new int[shape.length][];
        for (PermutationSpec.PermutedAxis a : axes) {
            maps[a.axis()] = axisMap(a, skip);
        }
        return gather(values, shape, maps);
    }

    /** {@code out[idx] = in[map(idx)]} with an index map per axis (null: identity). */
    static float[] gather(float[] in, long[] shape, int[][] maps) {
        int rank = shape.length;
        float[] out = new float[in.length];
        if (rank == 0 || in.length == 0) {
            System.arraycopy(in, 0, out, 0, in.length);
            return out;
        }
        int[] dims = new int[rank];
        long[] strides = new long[rank];
        long s = 1;
        for (int k = rank - 1; k >= 0; k--) {
            dims[k] = (int) shape[k];
            strides[k] = s;
            s *= shape[k];
        }
        int inner = dims[rank - 1];
        int[] last = maps[rank - 1];
        int rows = in.length / inner;
        int[] idx = new int[rank];
        for (int row = 0; row < rows; row++) {
            long src = 0;
            for (int k = 0; k < rank - 1; k++) {
                src += (maps[k] == null ? idx[k] : maps[k][idx[k]]) * strides[k];
            }
            int dst = row * inner;
            if (last == null) {
                System.arraycopy(in, (int) src, out, dst, inner);
            } else {
                for (int j = 0; j < inner; j++) {
                    out[dst + j] = in[(int) src + last[j]];
                }
            }
            for (int k = rank - 2; k >= 0; k--) {
                if (++idx[k] < dims[k]) {
                    break;
                }
                idx[k] = 0;
            }
        }
        return out;
    }

    /** The permutations by group name, for reports. */
    public List<Named> named() {
        List<Named> out = new ArrayList<>();
        for (int g = 0; g < perms.length; g++) {
            out.add(new Named(spec.groups().get(g).name(), perms[g].clone()));
        }
        return out;
    }

    /** A group's name and permutation. */
    public record Named(String group, int[] permutation) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Named n && n.group.equals(group) && Arrays.equals(n.permutation, permutation);
        }

        @Override
        public int hashCode() {
            return group.hashCode() * 31 + Arrays.hashCode(permutation);
        }

        @Override
        public String toString() {
            return group + Arrays.toString(permutation);
        }
    }
}
