package dev.graft.pleas;

import dev.graft.InvalidSettingException;
import dev.graft.align.PermutationSpec;
import dev.graft.align.Permutations;
import dev.graft.graph.AffineLayer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The merged model's units: a {@link UnitMap} for each hidden group (merged whole by its permutation, or, for a
 * group that widens, with its least similar pairs kept apart), and from those the map of every permuted weight
 * axis (the product of its factors' maps).
 * <p>
 * A group may widen when each of its member axes is an input or output axis of a {@link AffineLayer}, its bias or its
 * folded norm, and it is neither nested nor holds nested groups (attention heads): anything else it touched (a
 * layer norm, an embedding) would compute something else at another width. {@link #fixedGroups} says why the others cannot.
 */
final class MergedUnits {
    private final Map<Integer, UnitMap> groups;
    private final Map<String, UnitMap> axes = new HashMap<>();

    private MergedUnits(PermutationSpec spec, Permutations perms, Map<Integer, UnitMap> groups) {
        this.groups = groups;
        for (PermutationSpec.PermutedAxis axis : spec.axes()) {
            boolean nested = axis.factors().stream().anyMatch(f -> f.group() >= 0 && !groups.containsKey(f.group()));
            UnitMap map;
            if (nested) {
                map = UnitMap.permutation(perms.axisMap(axis, g -> false));
            } else {
                map = UnitMap.product(axis.factors().stream()
                        .map(f -> f.group() < 0 ? UnitMap.shared(f.size()) : groups.get(f.group())).toList());
            }
            axes.put(key(axis.weight(), axis.axis()), map);
        }
    }

    /**
     * The merged units for {@code perms} (B's units matched to A's), with {@code kept[g]} pairs of each widening
     * group {@code g} kept apart: the least similar by {@code similarity[g]} (of A's unit {@code i} and its match).
     */
    static MergedUnits of(PermutationSpec spec, Permutations perms, Map<Integer, Integer> kept,
                          Map<Integer, double[]> similarity) {
        Map<Integer, UnitMap> groups = new LinkedHashMap<>();
        for (int g = 0; g < spec.groups().size(); g++) {
            if (nestedOrParent(spec, g)) {
                continue;
            }
            int[] perm = perms.get(g);
            groups.put(g, kept.containsKey(g) ? UnitMap.of(perm, similarity.get(g), kept.get(g))
                    : UnitMap.permutation(perm));
        }
        return new MergedUnits(spec, perms, groups);
    }

    /** Group {@code g}'s units (a top-level group without nested ones). */
    UnitMap group(int g) {
        return groups.get(g);
    }

    /** The units of {@code weight}'s axis {@code axis} of {@code size}: the average by position if not permuted. */
    UnitMap axis(String weight, int axis, int size) {
        UnitMap m = axes.get(key(weight, axis));
        return m != null ? m : UnitMap.shared(size);
    }

    /** Whether {@code weight}'s axis {@code axis} is permuted. */
    boolean permuted(String weight, int axis) {
        return axes.containsKey(key(weight, axis));
    }

    private static String key(String weight, int axis) {
        return axis + "#" + weight;
    }

    private static boolean nestedOrParent(PermutationSpec spec, int g) {
        if (spec.groups().get(g).nested()) {
            return true;
        }
        return spec.groups().stream().anyMatch(c -> c.parent() == g);
    }

    /**
     * For each group that cannot widen, why (groups absent from the result can). Groups inside the parts that
     * {@code split} keeps per model are not merged at all; a group both there and in the merged part is refused.
     */
    static Map<Integer, String> fixedGroups(PermutationSpec spec, List<AffineLayer> layers, Split split) {
        Map<String, AffineLayer> byWeight = new HashMap<>();
        Map<String, AffineLayer> byBias = new HashMap<>();
        for (AffineLayer l : layers) {
            byWeight.put(l.weight(), l);
            if (l.bias() != null) {
                byBias.put(l.bias(), l);
            }
            if (l.norm() != null) {
                l.norm().parameters().forEach(p -> byBias.put(p, l));
            }
        }
        Map<Integer, String> out = new LinkedHashMap<>();
        for (int g = 0; g < spec.groups().size(); g++) {
            String kept = keptApart(spec, g, split, byWeight);
            if (kept != null) {
                out.put(g, kept);
                continue;
            }
            PermutationSpec.Group group = spec.groups().get(g);
            if (group.nested()) {
                out.put(g, "nested in group '" + spec.groups().get(group.parent()).name() + "'");
                continue;
            }
            if (nestedOrParent(spec, g)) {
                out.put(g, "holds nested groups (attention heads)");
                continue;
            }
            for (PermutationSpec.PermutedAxis axis : spec.axes()) {
                int index = g;
                if (axis.factors().stream().anyMatch(f -> f.group() == index)) {
                    String why = whyFixed(spec, axis, byWeight.get(axis.weight()), byBias.get(axis.weight()));
                    if (why != null) {
                        out.put(g, why);
                        break;
                    }
                }
            }
        }
        return out;
    }

    /** Why group {@code g} is in the parts kept per model, or null; refuses a group on both sides of the split. */
    private static String keptApart(PermutationSpec spec, int g, Split split, Map<String, AffineLayer> byWeight) {
        String inside = null;
        String outside = null;
        for (PermutationSpec.PermutedAxis axis : spec.axes()) {
            if (axis.factors().stream().noneMatch(f -> f.group() == g)) {
                continue;
            }
            AffineLayer l = byWeight.get(axis.weight());
            boolean entryInput = split.entries().contains(axis.weight()) && l != null && axis.axis() == l.inAxis();
            if (split.weights().contains(axis.weight()) && !entryInput) {
                inside = axis.weight();
            } else {
                outside = axis.weight();
            }
        }
        if (inside != null && outside != null) {
            throw new InvalidSettingException("cannot keep the layers from '" + split.entries().iterator().next()
                    + "' on apart: group '" + spec.groups().get(g).name() + "' is both in the kept part ('" + inside
                    + "') and in the merged part ('" + outside + "')");
        }
        return inside == null ? null : "in the parts kept per model";
    }

    private static String whyFixed(PermutationSpec spec, PermutationSpec.PermutedAxis axis, AffineLayer layer,
                                   AffineLayer biasOf) {
        String at = "'" + axis.weight() + "' axis " + axis.axis();
        if (axis.factors().stream().anyMatch(f -> f.group() >= 0 && nestedOrParent(spec, f.group()))) {
            return at + " also carries attention heads";
        }
        if (layer != null && (axis.axis() == layer.inAxis() || axis.axis() == 1 - layer.inAxis())) {
            return layer.patches() != null && axis.factors().size() > 1 ? at + " is a product of groups" : null;
        }
        if (biasOf != null && axis.axis() == 0) {
            return null;
        }
        return "touches " + at + ", which is not a layer's weight or bias";
    }
}
