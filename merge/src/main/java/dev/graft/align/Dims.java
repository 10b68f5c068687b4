package dev.graft.align;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The axes of a graph's values and weights as variables that say which axes must be permuted alike: a
 * union-find over dimension variables. A class is either one permutable dimension (a permutation group of its
 * size), or fixed (it reaches a graph input or output, or an op Graft cannot prove permutation-safe; the first
 * reason is kept), or the row-major product of other classes, as when a {@code Reshape} splits a hidden axis into
 * heads × head dimension (its members are permuted by the Kronecker product of the factors' permutations).
 */
final class Dims {
    private final List<Long> sizes = new ArrayList<>();
    private int[] parent = new int[64];
    private final List<String> fixedBecause = new ArrayList<>();
    private final List<int[]> factors = new ArrayList<>();

    /** A new permutable dimension of {@code size}. */
    int free(long size) {
        int id = sizes.size();
        if (id == parent.length) {
            parent = Arrays.copyOf(parent, id * 2);
        }
        parent[id] = id;
        sizes.add(size);
        fixedBecause.add(null);
        factors.add(null);
        return id;
    }

    /** A new dimension that must not be permuted. */
    int fixed(long size, String reason) {
        int id = free(size);
        fixedBecause.set(id, reason);
        return id;
    }

    long size(int d) {
        return sizes.get(find(d));
    }

    int find(int d) {
        while (parent[d] != d) {
            parent[d] = parent[parent[d]];
            d = parent[d];
        }
        return d;
    }

    boolean isFixed(int d) {
        return fixedBecause.get(find(d)) != null;
    }

    /** Why the class of {@code d} is fixed, or null. */
    String reason(int d) {
        return fixedBecause.get(find(d));
    }

    /** The factors of {@code d}'s class (outermost first), or null if it is not a product. */
    int[] factorsOf(int d) {
        int[] f = factors.get(find(d));
        return f == null ? null : f.clone();
    }

    /** Marks {@code d}'s class, and every factor of it, fixed (the first reason stays). */
    void fix(int d, String reason) {
        int r = find(d);
        if (fixedBecause.get(r) == null) {
            fixedBecause.set(r, reason);
        }
        int[] f = factors.get(r);
        if (f != null) {
            for (int x : f) {
                if (!isFixed(x)) {
                    fix(x, reason);
                }
            }
        }
    }

    /** States that {@code a} and {@code b} must be permuted alike. Classes of different sizes are both fixed. */
    void union(int a, int b, String where) {
        int ra = find(a);
        int rb = find(b);
        if (ra == rb) {
            return;
        }
        if (!sizes.get(ra).equals(sizes.get(rb))) {
            fix(ra, where + ": axes of sizes " + sizes.get(ra) + " and " + sizes.get(rb) + " meet");
            fix(rb, where + ": axes of sizes " + sizes.get(ra) + " and " + sizes.get(rb) + " meet");
            return;
        }
        parent[rb] = ra;
        String reason = fixedBecause.get(ra) != null ? fixedBecause.get(ra) : fixedBecause.get(rb);
        fixedBecause.set(ra, reason);
        int[] fa = factors.get(ra);
        int[] fb = factors.get(rb);
        if (fa == null) {
            factors.set(ra, fb);
        } else if (fb != null) {
            if (sameSizes(fa, fb)) {
                for (int k = 0; k < fa.length; k++) {
                    union(fa[k], fb[k], where);
                }
            } else {
                fix(ra, where + ": an axis split two different ways (" + describe(fa) + " and " + describe(fb) + ")");
                for (int x : fb) {
                    fix(x, fixedBecause.get(ra));
                }
            }
        }
        if (fixedBecause.get(ra) != null) {
            fix(ra, fixedBecause.get(ra));
        }
    }

    /**
     * {@code d} split row-major into factors of {@code parts} sizes (outermost first); the same factors every
     * time it is asked the same way. A class already split another way is fixed.
     */
    int[] split(int d, long[] parts, String where) {
        int r = find(d);
        if (parts.length == 1) {
            return new int[] {r};
        }
        int[] existing = factors.get(r);
        if (existing != null) {
            if (existing.length == parts.length && sizesAre(existing, parts)) {
                return existing.clone();
            }
            fix(r, where + ": an axis split two different ways (" + describe(existing) + " and "
                    + Arrays.toString(parts) + ")");
            return fixedDims(parts, fixedBecause.get(r));
        }
        int[] made = new int[parts.length];
        for (int k = 0; k < parts.length; k++) {
            made[k] = fixedBecause.get(r) != null ? fixed(parts[k], fixedBecause.get(r)) : free(parts[k]);
        }
        factors.set(r, made);
        return made.clone();
    }

    /** A new dimension that is the row-major product of {@code parts} (as when a Reshape merges axes). */
    int product(int[] parts) {
        long size = 1;
        for (int p : parts) {
            size *= size(p);
        }
        int id = free(size);
        factors.set(id, parts.clone());
        boolean allFixed = true;
        for (int p : parts) {
            allFixed &= isFixed(p);
        }
        if (allFixed) {
            fixedBecause.set(id, reason(parts[0]));
        }
        return id;
    }

    /** The classes {@code d} is made of, expanding products (outermost first); itself if it is not a product. */
    List<Integer> leaves(int d) {
        List<Integer> out = new ArrayList<>();
        addLeaves(d, out);
        return out;
    }

    private void addLeaves(int d, List<Integer> out) {
        int r = find(d);
        int[] f = factors.get(r);
        if (f == null) {
            out.add(r);
        } else {
            for (int x : f) {
                addLeaves(x, out);
            }
        }
    }

    int count() {
        return sizes.size();
    }

    private int[] fixedDims(long[] parts, String reason) {
        int[] out = new int[parts.length];
        for (int k = 0; k < parts.length; k++) {
            out[k] = fixed(parts[k], reason);
        }
        return out;
    }

    private boolean sameSizes(int[] a, int[] b) {
        if (a.length != b.length) {
            return false;
        }
        for (int k = 0; k < a.length; k++) {
            if (size(a[k]) != size(b[k])) {
                return false;
            }
        }
        return true;
    }

    private boolean sizesAre(int[] dims, long[] parts) {
        for (int k = 0; k < dims.length; k++) {
            if (size(dims[k]) != parts[k]) {
                return false;
            }
        }
        return true;
    }

    private String describe(int[] dims) {
        long[] s = new long[dims.length];
        for (int k = 0; k < dims.length; k++) {
            s[k] = size(dims[k]);
        }
        return Arrays.toString(s);
    }
}
