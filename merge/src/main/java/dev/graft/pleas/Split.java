package dev.graft.pleas;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Where a merge stops ("partial merging"): the last {@code k} layers and everything after them are kept per
 * model, as two branches that both read the merged body, so that models with different label spaces keep their
 * own heads and the merged model has one set of outputs per original model. A branch is every node downstream
 * of the input of the first kept layer; its <em>entry</em> layers, those that read a value of the body, are
 * fitted on the merged body's units with their own model's outputs as targets; the rest of a branch is its
 * model's, unchanged. B's branch is added to the graph with every name it introduces suffixed by
 * {@link #SUFFIX}.
 *
 * @param nodesA A's branch nodes (indexes into A's graph)
 * @param nodesB B's branch nodes (indexes into B's graph)
 * @param entries the entry layers' weights
 * @param weights every initializer a branch node reads (the same names in both graphs)
 */
record Split(Set<Integer> nodesA, Set<Integer> nodesB, Set<String> entries, Set<String> weights) {
    /** Appended to the names B's branch introduces, graph outputs included. */
    static final String SUFFIX = "_b";

    /** Nothing kept apart. */
    static Split none() {
        return new Split(Set.of(), Set.of(), Set.of(), Set.of());
    }

    boolean isNone() {
        return entries.isEmpty();
    }

    /** The branches after the last {@code k} of {@code layers} (A's, in graph order). */
    static Split last(OnnxModel ma, OnnxModel mb, List<Layer> layers, int k) {
        if (k == 0) {
            return none();
        }
        if (k > layers.size()) {
            throw new IllegalArgumentException("cannot keep the last " + k + " layers apart: the model has "
                    + layers.size());
        }
        Layer first = layers.get(layers.size() - k);
        Set<Integer> nodesA = downstream(ma, first.input());
        Set<Integer> nodesB = downstream(mb, first.input());
        List<NodeProto> graph = ma.proto().getGraph().getNodeList();
        Set<String> weights = new LinkedHashSet<>();
        Set<String> entries = new LinkedHashSet<>();
        Set<String> produced = new HashSet<>();
        nodesA.forEach(i -> produced.addAll(graph.get(i).getOutputList()));
        for (int i = 0; i < layers.size(); i++) {
            Layer l = layers.get(i);
            boolean inBranch = nodesA.contains(nodeIndex(ma, l.node(), l.weight()));
            if (inBranch != i >= layers.size() - k) {
                throw new IllegalArgumentException("cannot keep the last " + k + " layers apart: layer '"
                        + l.weight() + "' " + (inBranch ? "before them depends on" : "after them does not depend on")
                        + " value '" + first.input() + "'");
            }
            if (inBranch && !produced.contains(l.input())) {
                entries.add(l.weight());
            }
        }
        for (int i : nodesA) {
            NodeProto n = graph.get(i);
            boolean entry = isEntry(n, entries);
            for (String in : n.getInputList()) {
                var weight = ma.weight(in);
                if (weight.isPresent()) {
                    if (weight.get().origin() == Weight.Origin.INITIALIZER) {
                        weights.add(in);
                    }
                } else if (!in.isEmpty() && !produced.contains(in) && !entry && !isGraphInput(ma, in)) {
                    throw new IllegalArgumentException("cannot keep the last " + k + " layers apart: node '"
                            + n.getName() + "' in the kept part reads value '" + in + "' of the merged part "
                            + "other than through a layer");
                }
            }
        }
        for (String w : weights) {
            if (mb.weight(w).isEmpty()) {
                throw new GraftException(mb.file(), w, "the kept part of A reads this initializer; B has none of "
                        + "that name (the two models must share their architecture up to their heads)");
            }
        }
        return new Split(nodesA, nodesB, entries, weights);
    }

    private static boolean isEntry(NodeProto n, Set<String> entries) {
        return n.getInputCount() > 1 && entries.contains(n.getInput(1));
    }

    private static boolean isGraphInput(OnnxModel m, String value) {
        return m.proto().getGraph().getInputList().stream().anyMatch(v -> v.getName().equals(value));
    }

    private static int nodeIndex(OnnxModel m, String name, String weight) {
        List<NodeProto> nodes = m.proto().getGraph().getNodeList();
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).getName().equals(name) && nodes.get(i).getInputList().contains(weight)) {
                return i;
            }
        }
        return -1;
    }

    /** The nodes that read {@code value}, directly or through other such nodes. */
    private static Set<Integer> downstream(OnnxModel m, String value) {
        Set<String> reached = new HashSet<>(List.of(value));
        Set<Integer> out = new LinkedHashSet<>();
        List<NodeProto> nodes = m.proto().getGraph().getNodeList();
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).getInputList().stream().anyMatch(reached::contains)) {
                out.add(i);
                reached.addAll(nodes.get(i).getOutputList());
            }
        }
        return out;
    }

    /** B's branch nodes with the names they introduce suffixed, ready to add to A's graph. */
    List<NodeProto> nodesOfB(OnnxModel mb) {
        List<NodeProto> graph = mb.proto().getGraph().getNodeList();
        Set<String> introduced = new HashSet<>(weights);
        nodesB.forEach(i -> introduced.addAll(graph.get(i).getOutputList()));
        List<NodeProto> out = new ArrayList<>();
        for (int i : nodesB) {
            NodeProto n = graph.get(i);
            NodeProto.Builder b = n.toBuilder().setName(n.getName().isEmpty() ? "" : n.getName() + SUFFIX);
            for (int k = 0; k < n.getInputCount(); k++) {
                if (introduced.contains(n.getInput(k))) {
                    b.setInput(k, n.getInput(k) + SUFFIX);
                }
            }
            for (int k = 0; k < n.getOutputCount(); k++) {
                if (!n.getOutput(k).isEmpty()) {
                    b.setOutput(k, n.getOutput(k) + SUFFIX);
                }
            }
            out.add(b.build());
        }
        return out;
    }

    /** Whether graph output {@code name} of B comes from its branch. */
    boolean producesInB(OnnxModel mb, String name) {
        List<NodeProto> graph = mb.proto().getGraph().getNodeList();
        return nodesB.stream().anyMatch(i -> graph.get(i).getOutputList().contains(name));
    }
}
