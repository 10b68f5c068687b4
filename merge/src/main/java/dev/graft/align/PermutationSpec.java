package dev.graft.align;

import dev.graft.InvalidSettingException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hidden dimensions of a model that can be permuted without changing its function, and every weight axis
 * each one touches (Git Re-Basin's "permutation spec": Ainsworth, Hayase and Srinivasa, <i>Git Re-Basin: Merging
 * Models modulo Permutation Symmetries</i>, ICLR 2023). A weight axis is permuted by one group, or, where the
 * graph reshapes an axis into several (attention heads × head dimension), by the row-major product of several
 * groups and fixed parts, where an inner group may permute each unit of the outer one differently. Weight axes of size above 1 that no group may permute are listed with the
 * reason, which names the node or graph boundary that stopped the inference.
 */
public final class PermutationSpec {
    /**
     * A permutation group: {@code size} units permuted alike in every member axis; or, when it is nested in a
     * {@code parent} group (an index into {@link #groups()}, -1 for none), permuted independently within each
     * of the parent's units, as the head dimension within each attention head.
     */
    public record Group(String name, int size, int parent, List<Member> members) {
        public Group {
            members = List.copyOf(members);
        }

        public boolean nested() {
            return parent >= 0;
        }
    }

    /** A weight axis permuted by a group, possibly as one factor of the axis. */
    public record Member(String weight, int axis, int factor, int factors) {
        @Override
        public String toString() {
            return weight + "[" + axis + "]" + (factors > 1 ? " (factor " + (factor + 1) + " of " + factors + ")" : "");
        }
    }

    /**
     * One part of a weight axis, outermost first: permuted by group {@code group} (an index into
     * {@link #groups()}), or not permuted when {@code group} is -1.
     */
    public record Factor(int group, int size) {
    }

    /** A weight axis and how it is permuted: the row-major product of its factors. */
    public record PermutedAxis(String weight, int axis, List<Factor> factors) {
        public PermutedAxis {
            factors = List.copyOf(factors);
        }
    }

    /**
     * An activation in which groups can be observed (an input of a MatMul, Gemm or Conv: after the
     * non-linearity): its shape on the probe inputs, and for each axis its factors, outermost first.
     */
    public record Probe(String value, List<List<Factor>> axes) {
        public Probe {
            axes = axes.stream().map(List::copyOf).toList();
        }

        /** Whether group {@code g} appears in this value. */
        public boolean holds(int g) {
            return axes.stream().anyMatch(a -> a.stream().anyMatch(f -> f.group() == g));
        }
    }

    /** A weight axis that stays as it is, and why. */
    public record FixedAxis(String weight, int axis, long size, String reason) {
    }

    private final List<Group> groups;
    private final List<PermutedAxis> axes;
    private final List<FixedAxis> fixed;
    private final List<Probe> probes;

    PermutationSpec(List<Group> groups, List<PermutedAxis> axes, List<FixedAxis> fixed, List<Probe> probes) {
        this.groups = List.copyOf(groups);
        this.axes = List.copyOf(axes);
        this.fixed = List.copyOf(fixed);
        this.probes = List.copyOf(probes);
    }

    /**
     * Activations where the groups can be observed, one for each group that has one (a nested group's probe
     * holds its parent too), in graph order.
     */
    public List<Probe> probes() {
        return probes;
    }

    /** The groups, in the order their first member appears in the model. */
    public List<Group> groups() {
        return groups;
    }

    /** Every permuted weight axis. */
    public List<PermutedAxis> axes() {
        return axes;
    }

    /** Weight axes of size above 1 that are not permuted, with the reason. */
    public List<FixedAxis> fixed() {
        return fixed;
    }

    /** The permuted axes of each weight, by weight name. */
    public Map<String, List<PermutedAxis>> byWeight() {
        Map<String, List<PermutedAxis>> out = new LinkedHashMap<>();
        for (PermutedAxis a : axes) {
            out.computeIfAbsent(a.weight(), k -> new ArrayList<>()).add(a);
        }
        return out;
    }

    /**
     * A group by name.
     *
     * @throws InvalidSettingException if no group has that name
     */
    public Group group(String name) {
        for (Group g : groups) {
            if (g.name().equals(name)) {
                return g;
            }
        }
        throw new InvalidSettingException("no permutation group '" + name + "'");
    }
}
