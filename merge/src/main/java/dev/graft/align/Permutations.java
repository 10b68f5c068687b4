package dev.graft.align;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One permutation per group of a {@link PermutationSpec}, applied to weights: with {@code π} the permutation of
 * a group, unit {@code i} of the permuted model is unit {@code π[i]} of the original, in every member axis. An
 * axis made of several factors is permuted factor by factor (identity for fixed factors); a nested group has
 * one permutation per unit of its parent (stored one block after another), and within destination unit
 * {@code h} of the parent its unit {@code d} comes from {@code π_h[d]}. Applying the same permutations to every
 * weight of a model leaves its function unchanged.
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
            int size = spec.groups().get(g).size();
            p[g] = new int[blocks(spec, g) * size];
            for (int k = 0; k < p[g].length; k++) {
                p[g][k] = k % size;
            }
        }
        return new Permutations(spec, p);
    }

    /** Uniformly random permutations from {@code seed} (each block of a nested group on its own). */
    public static Permutations random(PermutationSpec spec, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Permutations p = identity(spec);
        for (int g = 0; g < p.perms.length; g++) {
            int size = spec.groups().get(g).size();
            int[] perm = p.perms[g];
            for (int block = 0; block < perm.length / size; block++) {
                int at = block * size;
                for (int i = size - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int t = perm[at + i];
                    perm[at + i] = perm[at + j];
                    perm[at + j] = t;
                }
            }
        }
        return p;
    }

    /** How many permutations group {@code g} has: its parent's size if nested, else 1. */
    static int blocks(PermutationSpec spec, int g) {
        int parent = spec.groups().get(g).parent();
        return parent < 0 ? 1 : spec.groups().get(parent).size();
    }

    /** The identity permutation of {@code n} units. */
    public static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        return p;
    }

    public PermutationSpec spec() {
        return spec;
    }

    /** Group {@code g}'s permutation (a copy; a nested group's blocks one after another). */
    public int[] get(int g) {
        return perms[g].clone();
    }

    /** The same with group {@code g} set to {@code perm}. */
    public Permutations with(int g, int[] perm) {
        if (perm.length != perms[g].length) {
            throw new IllegalArgumentException("group '" + spec.groups().get(g).name() + "' has "
                    + perms[g].length + " entries, not " + perm.length);
        }
        int[][] copy = perms.clone();
        copy[g] = perm.clone();
        return new Permutations(spec, copy);
    }

    /**
     * Applying this, then {@code other}: a model permuted by this and then by {@code other} equals the original
     * permuted by the result ({@code (this then other)[i] = this[other[i]]}; for a nested group, the block of
     * {@code this} is that of the parent unit {@code other} takes).
     */
    public Permutations then(Permutations other) {
        int[][] out = new int[perms.length][];
        for (int g = 0; g < perms.length; g++) {
            int size = spec.groups().get(g).size();
            int parent = spec.groups().get(g).parent();
            out[g] = new int[perms[g].length];
            for (int k = 0; k < out[g].length; k++) {
                int block = k / size;
                int from = parent < 0 ? 0 : other.perms[parent][block];
                out[g][k] = perms[g][from * size + other.perms[g][k]];
            }
        }
        return new Permutations(spec, out);
    }

    /** The inverse permutations: {@code this then inverse()} is the identity. */
    public Permutations inverse() {
        int[][] out = new int[perms.length][];
        for (int g = 0; g < perms.length; g++) {
            int size = spec.groups().get(g).size();
            int parent = spec.groups().get(g).parent();
            out[g] = new int[perms[g].length];
            for (int block = 0; block < perms[g].length / size; block++) {
                // destination unit `block` of the parent in the inverse came from the unit the parent sends there
                int source = parent < 0 ? 0 : inverseOf(perms[parent], block);
                for (int i = 0; i < size; i++) {
                    out[g][block * size + perms[g][source * size + i]] = i;
                }
            }
        }
        return new Permutations(spec, out);
    }

    private static int inverseOf(int[] perm, int value) {
        for (int i = 0; i < perm.length; i++) {
            if (perm[i] == value) {
                return i;
            }
        }
        throw new IllegalStateException("not a permutation");
    }

    /**
     * For one permuted axis: destination index → source index along it, factor by factor (identity where a
     * factor is fixed or {@code skip} holds for its group); a nested factor takes the block of the destination
     * unit of the factor before it, its parent.
     */
    public int[] axisMap(PermutationSpec.PermutedAxis axis, java.util.function.IntPredicate skip) {
        int[] map = {0};
        int previousSize = 1;
        for (PermutationSpec.Factor f : axis.factors()) {
            int g = f.group();
            boolean permuted = g >= 0 && !skip.test(g);
            boolean nested = g >= 0 && spec.groups().get(g).nested();
            int[] next = new int[map.length * f.size()];
            for (int o = 0; o < map.length; o++) {
                int block = nested ? o % previousSize : 0;
                for (int i = 0; i < f.size(); i++) {
                    int source = permuted ? perms[g][block * f.size() + i] : i;
                    next[o * f.size() + i] = map[o] * f.size() + source;
                }
            }
            map = next;
            previousSize = f.size();
        }
        return map;
    }

    /** {@code values} of a weight of {@code shape} with its permuted axes permuted (a new array). */
    public float[] apply(String weight, long[] shape, float[] values) {
        return apply(weight, shape, values, g -> false);
    }

    /** As {@link #apply(String, long[], float[])}, leaving the groups {@code skip} holds for unpermuted. */
    float[] apply(String weight, long[] shape, float[] values, java.util.function.IntPredicate skip) {
        List<PermutationSpec.PermutedAxis> axes = spec.byWeight().getOrDefault(weight, List.of());
        int[][] maps = new int[shape.length][];
        for (PermutationSpec.PermutedAxis a : axes) {
            maps[a.axis()] = axisMap(a, skip);
        }
        return gather(values, shape, maps);
    }

    /** {@code out[idx] = in[map(idx)]} with an index map per axis (null: identity). */
    public static float[] gather(float[] in, long[] shape, int[][] maps) {
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
