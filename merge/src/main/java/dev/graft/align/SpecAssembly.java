package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns the axes left free after a graph walk into a {@link PermutationSpec}: each union-find root with free
 * leaves becomes a group (named after the module its weights share), weights' axes become permuted or fixed axes
 * (with the reason), groups permuting within each unit of another become nested, and one probe value per group is
 * chosen for activation statistics.
 */
final class SpecAssembly {
    private final AxisGraph graph;

    SpecAssembly(AxisGraph graph) {
        this.graph = graph;
    }

    PermutationSpec spec() {
        Map<Integer, Integer> groupOfRoot = new LinkedHashMap<>();
        Map<Integer, List<PermutationSpec.Member>> members = new LinkedHashMap<>();
        List<PermutationSpec.PermutedAxis> axes = new ArrayList<>();
        List<PermutationSpec.FixedAxis> fixed = new ArrayList<>();
        for (Weight w : graph.model.initializers()) {
            int[] d = graph.weights.get(w.name());
            if (d == null) {
                continue;
            }
            for (int axis = 0; axis < d.length; axis++) {
                if (graph.dims.size(d[axis]) <= 1) {
                    continue;
                }
                List<Integer> leaves = graph.dims.leaves(d[axis]);
                List<PermutationSpec.Factor> factors = new ArrayList<>();
                boolean any = false;
                for (int k = 0; k < leaves.size(); k++) {
                    int leaf = leaves.get(k);
                    int size = (int) graph.dims.size(leaf);
                    if (graph.dims.isFixed(leaf) || size <= 1) {
                        factors.add(new PermutationSpec.Factor(-1, size));
                        continue;
                    }
                    any = true;
                    int g = groupOfRoot.computeIfAbsent(leaf, x -> groupOfRoot.size());
                    members.computeIfAbsent(g, x -> new ArrayList<>())
                            .add(new PermutationSpec.Member(w.name(), axis, k, leaves.size()));
                    factors.add(new PermutationSpec.Factor(g, size));
                }
                if (any) {
                    axes.add(new PermutationSpec.PermutedAxis(w.name(), axis, factors));
                } else {
                    fixed.add(new PermutationSpec.FixedAxis(w.name(), axis, graph.dims.size(d[axis]), reasonOf(leaves)));
                }
            }
        }
        Map<Integer, Integer> parents = nesting(groupOfRoot.keySet());
        List<PermutationSpec.Group> groups = new ArrayList<>();
        Map<String, Integer> taken = new HashMap<>();
        GraphIndex index = GraphIndex.of(graph.model);
        for (Map.Entry<Integer, Integer> e : groupOfRoot.entrySet()) {
            List<PermutationSpec.Member> m = members.get(e.getValue());
            String base = commonModule(m, index) + "/" + graph.dims.size(e.getKey());
            int seen = taken.merge(base, 1, Integer::sum);
            Integer parent = parents.get(e.getKey());
            groups.add(new PermutationSpec.Group(seen == 1 ? base : base + "#" + seen, (int) graph.dims.size(e.getKey()),
                    parent == null ? -1 : groupOfRoot.get(parent), m));
        }
        return new PermutationSpec(groups, axes, fixed, probes(groupOfRoot, groups));
    }

    /** For each group, the first input of a MatMul, Gemm or Conv (not a weight) that holds it (and its parent). */
    private List<PermutationSpec.Probe> probes(Map<Integer, Integer> groupOfRoot, List<PermutationSpec.Group> groups) {
        List<PermutationSpec.Probe> out = new ArrayList<>();
        Set<Integer> seen = new java.util.HashSet<>();
        for (NodeProto n : graph.model.proto().getGraph().getNodeList()) {
            if (!Set.of("MatMul", "Gemm", "Conv", "ConvTranspose").contains(n.getOpType()) || !n.getDomain().isEmpty()) {
                continue;
            }
            for (String in : n.getInputList()) {
                int[] d = graph.values.get(in);
                if (in.isEmpty() || graph.initializers.containsKey(in) || d == null) {
                    continue;
                }
                List<List<PermutationSpec.Factor>> axes = new ArrayList<>();
                Set<Integer> held = new java.util.HashSet<>();
                for (int x : d) {
                    List<PermutationSpec.Factor> factors = new ArrayList<>();
                    for (int leaf : graph.dims.leaves(x)) {
                        Integer g = graph.dims.isFixed(leaf) ? null : groupOfRoot.get(leaf);
                        factors.add(new PermutationSpec.Factor(g == null ? -1 : g, (int) graph.dims.size(leaf)));
                        if (g != null) {
                            held.add(g);
                        }
                    }
                    axes.add(factors);
                }
                boolean useful = false;
                for (int g : held) {
                    int parent = groups.get(g).parent();
                    useful |= !seen.contains(g) && (parent < 0 || held.contains(parent));
                }
                if (useful) {
                    for (int g : held) {
                        int parent = groups.get(g).parent();
                        if (parent < 0 || held.contains(parent)) {
                            seen.add(g);
                        }
                    }
                    out.add(new PermutationSpec.Probe(in, axes));
                }
            }
        }
        return out;
    }

    /**
     * The groups that may permute differently within each unit of another (the head dimension within each
     * head): a group whose every occurrence inside a product axis comes right after the same group, and every
     * value holding it also holds that group, so each element knows its block. Maps such a group's root to its
     * parent's root.
     */
    private Map<Integer, Integer> nesting(java.util.Collection<Integer> groupRoots) {
        Map<Integer, Integer> parent = new HashMap<>();
        Set<Integer> broken = new java.util.HashSet<>();
        List<List<Integer>> valueLeaves = new ArrayList<>();
        for (int[] d : graph.values.values()) {
            List<Integer> all = new ArrayList<>();
            for (int x : d) {
                List<Integer> leaves = graph.dims.leaves(x);
                for (int k = 0; k < leaves.size(); k++) {
                    int leaf = leaves.get(k);
                    all.add(leaf);
                    if (k > 0 && groupRoots.contains(leaf)) {
                        int before = leaves.get(k - 1);
                        Integer seen = parent.putIfAbsent(leaf, before);
                        if ((seen != null && seen != before) || !groupRoots.contains(before)) {
                            broken.add(leaf);
                        }
                    }
                }
            }
            valueLeaves.add(all);
        }
        for (List<Integer> leaves : valueLeaves) {
            for (int leaf : leaves) {
                Integer p = parent.get(leaf);
                if (p != null && !leaves.contains(p)) {
                    broken.add(leaf);
                }
            }
        }
        parent.keySet().removeAll(broken);
        return parent;
    }

    private String reasonOf(List<Integer> leaves) {
        for (int leaf : leaves) {
            String r = graph.dims.reason(leaf);
            if (r != null && graph.dims.size(leaf) > 1) {
                return r;
            }
        }
        return "size 1";
    }

    /** The longest module path shared by the members' weights (dotted), or "model". */
    private static String commonModule(List<PermutationSpec.Member> members, GraphIndex index) {
        String[] common = null;
        int length = 0;
        for (PermutationSpec.Member m : members) {
            String path = index.get(m.weight()).map(IndexedWeight::modulePath).orElse("");
            String[] parts = path.isEmpty() ? new String[0] : path.split("\\.");
            if (common == null) {
                common = parts;
                length = parts.length;
            } else {
                int k = 0;
                while (k < length && k < parts.length && common[k].equals(parts[k])) {
                    k++;
                }
                length = k;
            }
        }
        return common == null || length == 0 ? "model" : String.join(".", Arrays.copyOf(common, length));
    }
}
