package dev.graft.pleas;

import dev.graft.GraftException;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.Branch;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
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
 * @param branchA A's branch (null if nothing is kept apart)
 * @param branchB B's branch (null if nothing is kept apart)
 * @param entries the entry layers' weights
 * @param weights every initializer a branch node reads (the same names in both graphs)
 */
record Split(Branch branchA, Branch branchB, Set<String> entries, Set<String> weights) {
    /** Appended to the names B's branch introduces, graph outputs included. */
    static final String SUFFIX = "_b";

    /** Nothing kept apart. */
    static Split none() {
        return new Split(null, null, Set.of(), Set.of());
    }

    boolean isNone() {
        return entries.isEmpty();
    }

    /** The branches after the last {@code k} of {@code layers} (A's, in graph order). */
    static Split last(OnnxModel ma, OnnxModel mb, List<AffineLayer> layers, int k) {
        if (k == 0) {
            return none();
        }
        if (k > layers.size()) {
            throw new GraftException(ma.file(), null, "cannot keep the last " + k + " layers apart: the model has "
                    + layers.size());
        }
        AffineLayer first = layers.get(layers.size() - k);
        Branch branchA = Branch.from(ma, first.input());
        Branch branchB = Branch.from(mb, first.input());
        Set<String> weights = new LinkedHashSet<>();
        Set<String> entries = new LinkedHashSet<>();
        for (int i = 0; i < layers.size(); i++) {
            AffineLayer l = layers.get(i);
            boolean inBranch = branchA.holds(l.node(), l.weight());
            if (inBranch != i >= layers.size() - k) {
                throw new GraftException(ma.file(), l.weight(), "cannot keep the last " + k + " layers apart: "
                        + "this layer " + (inBranch ? "before them depends on" : "after them does not depend on")
                        + " value '" + first.input() + "'");
            }
            if (inBranch && !branchA.produces(l.input())) {
                entries.add(l.weight());
            }
        }
        for (Branch.Node n : branchA.nodes()) {
            boolean entry = entries.contains(n.weightInput());
            for (String in : n.inputs()) {
                var weight = ma.weight(in);
                if (weight.isPresent()) {
                    if (weight.get().origin() == Weight.Origin.INITIALIZER) {
                        weights.add(in);
                    }
                } else if (!in.isEmpty() && !branchA.produces(in) && !entry && !isGraphInput(ma, in)) {
                    throw new GraftException(ma.file(), null, "cannot keep the last " + k + " layers apart: node '"
                            + n.name() + "' in the kept part reads value '" + in + "' of the merged part "
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
        return new Split(branchA, branchB, entries, weights);
    }

    private static boolean isGraphInput(OnnxModel m, String value) {
        return m.proto().getGraph().getInputList().stream().anyMatch(v -> v.getName().equals(value));
    }

    /** Whether graph output {@code name} of B comes from its branch. */
    boolean producesInB(String name) {
        return branchB != null && branchB.produces(name);
    }
}
