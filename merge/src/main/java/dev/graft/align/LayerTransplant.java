package dev.graft.align;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.graft.UnsupportedModelException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.GraphEdit;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.List;

/**
 * One model's layers written into another's graph, so that two models of different depths pair weight by weight for
 * {@link OtFusion} (CLAFusion's balancing of depths): an MLP deepened with identity layers; a residual network's
 * layers at their aligned places in a deeper one's graph with identity blocks elsewhere, or a deeper one's aligned
 * layers in a shallower one's graph; one layer repeated in every layer (for the weight layer cost).
 */
final class LayerTransplant {
    private LayerTransplant() {
    }

    /**
     * Writes the shallower model in the deeper one's graph: its layer {@code k} in layer {@code alignment[k]}, the
     * deeper model's own block with zeroed residual-branch outputs in every other layer; returns the names of the
     * latter's weights (already in the deeper model's units).
     */
    static java.util.Set<String> deepened(OnnxModel shallow, LayerStack ss, OnnxModel deep,
                                                       LayerStack sd, List<Integer> alignment, Path out) {
        PermutationSpec spec = Alignment.spec(deep.file(), true, dev.graft.verify.ProbeOptions.defaults()); // the
        // residual stream is a group even where it is the output, to find the blocks' writes into it
        java.util.Set<String> own = new java.util.HashSet<>();
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        java.util.Map<Integer, java.util.Set<String>> branches = new java.util.HashMap<>();
        for (String name : sd.names()) {
            int l = sd.layerOf(name);
            int k = l < 0 ? -1 : alignment.indexOf(l);
            if (l >= 0 && k < 0) {
                own.add(name);
                boolean zero = branches.computeIfAbsent(l, x -> sd.branchOutputs(deep, spec, x)).contains(name);
                Weight w = deep.weight(name).orElseThrow();
                values.put(name, () -> zero ? new float[(int) w.elementCount()] : w.toFloats());
            } else {
                values.put(name, pairedValues(shallow, ss.pair(sd, name, k), deep, name));
            }
        }
        writeIn(deep, values, out, "cla-deepen");
        return own;
    }

    /** Writes the deeper model in the shallower one's graph: layer {@code alignment[k]} in layer {@code k}. */
    static java.util.Set<String> shallowed(OnnxModel shallow, LayerStack ss, OnnxModel deep,
                                                        LayerStack sd, List<Integer> alignment, Path out) {
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        for (String name : ss.names()) {
            int l = ss.layerOf(name);
            values.put(name, pairedValues(deep, sd.pair(ss, name, l < 0 ? -1 : alignment.get(l)), shallow, name));
        }
        writeIn(shallow, values, out, "cla-shallow");
        return java.util.Set.of();
    }

    /**
     * One step of merging the deeper model's consecutive layers into the shallower one's graph: layer {@code k} gets
     * the deeper model's layer {@code segments[k][step]} where segment {@code k} has that many, and keeps what
     * {@code merged} (the merge so far, in the shallower model's graph) holds where it has not, as do the weights
     * outside the layers; returns the names of the kept weights (already in {@code merged}'s units).
     */
    static java.util.Set<String> segmentStep(OnnxModel merged, LayerStack ss, OnnxModel deep, LayerStack sd,
                                             List<List<Integer>> segments, int step, Path out) {
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        java.util.Set<String> kept = new java.util.HashSet<>();
        for (String name : ss.names()) {
            int l = ss.layerOf(name);
            if (l >= 0 && step < segments.get(l).size()) {
                values.put(name, pairedValues(deep, sd.pair(ss, name, segments.get(l).get(step)), merged, name));
            } else {
                kept.add(name);
                values.put(name, pairedValues(merged, name, merged, name));
            }
        }
        writeIn(merged, values, out, "cla-merge-layers");
        return kept;
    }

    /**
     * The values of {@code from}'s weight {@code name}, to be written as {@code into}'s weight {@code as}.
     *
     * @throws dev.graft.IncompatibleModelsException naming both if their shapes differ
     */
    private static java.util.function.Supplier<float[]> pairedValues(OnnxModel from, String name, OnnxModel into,
                                                                     String as) {
        Weight w = from.weight(name).orElseThrow();
        Weight t = into.weight(as).orElseThrow();
        if (!java.util.Arrays.equals(w.shape(), t.shape())) {
            throw new dev.graft.IncompatibleModelsException(from.file(), name, "is " + java.util.Arrays.toString(
                    w.shape()) + " but pairs with " + into.file() + "'s " + as + ", which is " + java.util.Arrays
                    .toString(t.shape()) + "; CLAFusion of transformers pairs layers of equal widths");
        }
        return w::toFloats;
    }

    /**
     * Writes the shallower model's layer {@code layer} into every layer of the deeper one's graph (the weights outside
     * the layers the shallower model's too): for comparing that layer with each of the deeper model's by their weights.
     */
    static void repeated(OnnxModel shallow, LayerStack ss, OnnxModel deep, LayerStack sd, int layer, Path out) {
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        for (String name : sd.names()) {
            int l = sd.layerOf(name);
            values.put(name, pairedValues(shallow, ss.pair(sd, name, l < 0 ? -1 : layer), deep, name));
        }
        writeIn(deep, values, out, "cla-layer-cost");
    }

    /** Writes {@code template}'s graph with {@code values} for its float weights (the rest copied). */
    private static void writeIn(OnnxModel template, java.util.Map<String, java.util.function.Supplier<float[]>> values,
                                Path out, String stage) {
        RewritePlan.Builder plan = RewritePlan.of(stage, GraphEdit.of(template).clearValueInfo().build())
                .input(template);
        for (Weight w : template.initializers()) {
            java.util.function.Supplier<float[]> v = values.get(w.name());
            if (v == null) {
                plan.copy(w);
            } else {
                plan.compute(OutputTensor.of(w.name(), ElementType.FLOAT, w.shape(), v::get), 8L * w.elementCount());
            }
        }
        Rewriter.write(plan.build(), out, Execution.defaults());
    }

    /**
     * Writes the shallower model in the deeper one's graph: each hidden layer of the deeper model takes the
     * shallower layer aligned to it, or an identity layer; the output layer takes the shallower one's.
     */
    static void deepen(Path shallow, List<AffineLayer> ls, Path deep, List<AffineLayer> ld, List<Integer> alignment,
                       Path out) {
        try (OnnxModel s = OnnxModel.open(shallow); OnnxModel d = OnnxModel.open(deep)) {
            ModelProto template = GraphEdit.of(d).clearValueInfo().build();
            RewritePlan.Builder plan = RewritePlan.of("cla-deepen", template).input(s).input(d);
            int hidden = ld.size() - 1;
            int width = ls.get(0).in();
            java.util.Set<String> written = new java.util.HashSet<>();
            for (int k = 0; k <= hidden; k++) {
                AffineLayer target = ld.get(k);
                int from = k == hidden ? ls.size() - 1 : alignment.indexOf(k);
                if (from >= 0) {
                    AffineLayer source = ls.get(from);
                    if (source.in() != width) {
                        throw new UnsupportedModelException(shallow, source.weight(), "reads " + source.in()
                                + " units but the layer before it writes " + width + "; the alignment skips a "
                                + "layer, which CLAFusion does not merge yet");
                    }
                    float[] w = source.weights(s);
                    int in = source.in();
                    int outW = source.out();
                    plan.compute(OutputTensor.of(target.weight(), ElementType.FLOAT, target.shape(in, outW),
                            () -> relayout(w, in, outW, source.outIn(), target.outIn())), 8L * w.length);
                    if (target.bias() != null) {
                        float[] bias = source.biases(s);
                        plan.compute(OutputTensor.of(target.bias(), ElementType.FLOAT, new long[] {outW},
                                () -> bias), 8L * bias.length);
                    } else if (source.bias() != null) {
                        throw new UnsupportedModelException(deep, target.weight(), "has no bias but " + shallow
                                + "'s aligned layer has one");
                    }
                    width = outW;
                } else {
                    int n = width;
                    plan.compute(OutputTensor.of(target.weight(), ElementType.FLOAT, target.shape(n, n), () -> {
                        float[] identity = new float[n * n];
                        for (int i = 0; i < n; i++) {
                            identity[i * n + i] = 1;
                        }
                        return identity;
                    }), 8L * n * n);
                    if (target.bias() != null) {
                        plan.compute(OutputTensor.of(target.bias(), ElementType.FLOAT, new long[] {n},
                                () -> new float[n]), 8L * n);
                    }
                }
                written.add(target.weight());
                if (target.bias() != null) {
                    written.add(target.bias());
                }
            }
            for (Weight w : d.initializers()) {
                if (!written.contains(w.name())) {
                    plan.copy(w);
                }
            }
            Rewriter.write(plan.build(), out, Execution.defaults());
        }
    }

    /** A weight {@code [in, out]} or {@code [out, in]} ({@code fromOutIn}) in the other layout if they differ. */
    private static float[] relayout(float[] w, int in, int out, boolean fromOutIn, boolean toOutIn) {
        if (fromOutIn == toOutIn) {
            return w;
        }
        float[] t = new float[w.length];
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) {
                if (fromOutIn) {
                    t[i * out + o] = w[o * in + i];
                } else {
                    t[o * in + i] = w[i * out + o];
                }
            }
        }
        return t;
    }
}
