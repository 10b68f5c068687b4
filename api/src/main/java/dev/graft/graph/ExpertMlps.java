package dev.graft.graph;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.UnsupportedModelException;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.graft.graph.Nodes.floats;
import static dev.graft.graph.Nodes.int64s;
import static dev.graft.graph.Nodes.ints;
import static dev.graft.graph.Nodes.node;
import static dev.graft.graph.Nodes.reshape;
import static dev.graft.graph.Nodes.string;

/**
 * Edits that make a transformer layer's MLP a mixture of experts with a top-k gate per token, as sparse upcycling
 * builds them (Komatsuzaki et al., "Sparse Upcycling", ICLR 2023; mergekit-moe): each expert is a copy of the MLP
 * with its own dense weights, and a token {@code h} goes to the {@code k} experts with the largest gate logits
 * {@code h·G + b} ({@code G} is {@code [width, E]}; mergekit's gates have no bias {@code b}), weighted by the softmax of those {@code k} logits (Mixtral's
 * routing: the softmax over all experts renormalized over the chosen ones is the same). Two forms:
 * <ul>
 * <li>{@link #addStandard}: standard ops at opset 11 and later — every expert's copy of the MLP runs on every token
 * ({@code E} times the MLP's cost), {@code TopK} picks, {@code Softmax} weighs, {@code ScatterElements} makes the
 * weights dense and one {@code MatMul} sums the experts' outputs. Any MLP (any activation) works, and the result
 * equals the formula up to float rounding.</li>
 * <li>{@link #addContrib}: ONNX Runtime's {@code com.microsoft.MoE}, which runs each token through its {@code k}
 * experts only. Its CPU kernel computes ReLU, SiLU, SwiGLU (gate and up rows interleaved, {@code swiglu_fusion=1})
 * and GELU in the tanh approximation, so an exact (erf) GELU MLP comes out approximately (about 1e-3 on the
 * activations).</li>
 * </ul>
 */
public final class ExpertMlps {
    /** The MLP activations {@code com.microsoft.MoE} computes, as its {@code activation_type}. */
    public enum Activation {
        RELU, GELU, SILU, SWIGLU
    }

    /**
     * A transformer layer's MLP: the nodes from {@code input} to {@code output} in graph order, its dense layers
     * ({@code layers}, graph order; for SwiGLU gate, up, down), and the activation
     * {@code com.microsoft.MoE} would compute for it (null if none fits).
     */
    public record Block(String input, String output, List<NodeProto> nodes, List<AffineLayer> layers,
                        Activation activation) {
        /** The dense weights and biases the block reads, which each expert has its own copy of. */
        public List<String> parameters() {
            List<String> out = new ArrayList<>();
            for (AffineLayer l : layers) {
                out.add(l.weight());
                if (l.bias() != null) {
                    out.add(l.bias());
                }
            }
            return out;
        }
    }

    private ExpertMlps() {
    }

    /**
     * The MLP of {@code model} made of {@code layers} (a transformer layer's dense layers outside attention, in graph
     * order): every node on a path from the first layer's input to the last layer's output.
     *
     * @throws UnsupportedModelException naming the model and weight if those nodes read other values of the graph,
     *                                   or another node reads a value inside the block
     */
    public static Block block(OnnxModel model, List<AffineLayer> layers) {
        String input = layers.get(0).input();
        AffineLayer last = layers.get(layers.size() - 1);
        String output = last.output();
        List<NodeProto> all = model.proto().getGraph().getNodeList();
        Map<String, NodeProto> writers = new HashMap<>();
        all.forEach(n -> n.getOutputList().forEach(o -> writers.put(o, n)));
        Set<NodeProto> inBlock = new HashSet<>();
        List<String> pending = new ArrayList<>(List.of(output));
        while (!pending.isEmpty()) {
            String v = pending.remove(pending.size() - 1);
            NodeProto w = writers.get(v);
            if (v.equals(input) || w == null || !inBlock.add(w)) {
                continue;
            }
            pending.addAll(w.getInputList());
        }
        List<NodeProto> nodes = all.stream().filter(inBlock::contains).toList();
        Set<String> produced = new HashSet<>();
        nodes.forEach(n -> produced.addAll(n.getOutputList()));
        for (NodeProto n : nodes) {
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !in.equals(input) && !produced.contains(in) && model.weight(in).isEmpty()) {
                    throw new UnsupportedModelException(model.file(), last.weight(), "is in an MLP whose node '"
                            + n.getName() + "' reads '" + in + "' from outside it; an MLP made experts reads only "
                            + "its input '" + input + "' and weights");
                }
            }
        }
        for (NodeProto n : all) {
            if (inBlock.contains(n)) {
                continue;
            }
            for (String in : n.getInputList()) {
                if (produced.contains(in) && !in.equals(output)) {
                    throw new UnsupportedModelException(model.file(), last.weight(), "is in an MLP whose value '"
                            + in + "' is also read by '" + n.getName() + "' outside it");
                }
            }
        }
        for (AffineLayer l : layers) {
            if (nodes.stream().noneMatch(n -> n.getName().equals(l.node()) && n.getInputList().contains(l.weight()))) {
                throw new UnsupportedModelException(model.file(), l.weight(), "is not on a path from '" + input
                        + "' to '" + output + "': the layers given are not one MLP");
            }
        }
        Activation activation = activation(nodes, layers, input);
        List<AffineLayer> ordered = new ArrayList<>(layers);
        if (activation == Activation.SWIGLU && !readBySigmoid(nodes, ordered.get(0).output())) {
            ordered.add(0, ordered.remove(1));
        }
        return new Block(input, output, nodes, List.copyOf(ordered), activation);
    }

    /**
     * Replaces {@code block} by {@code renames.size()} experts in standard ops: expert {@code e} is the block with
     * each parameter {@code p} read as {@code renames.get(e).get(p)}; {@code gate} is the {@code [width, E]} gate
     * initializer and {@code gateBias} its {@code [E]} bias (or null), {@code rank} the input's rank (2 or 3). Nodes
     * are named under {@code scope}.
     */
    public static void addStandard(GraphEdit edit, Block block, List<Map<String, String>> renames, String gate,
                                   String gateBias, int k, int rank, long width, String scope) {
        int experts = renames.size();
        List<NodeProto> nodes = new ArrayList<>();
        String weights = gateWeights(nodes, logits(nodes, block.input(), gate, gateBias, scope), k, scope);
        Set<String> produced = new HashSet<>();
        block.nodes().forEach(n -> produced.addAll(n.getOutputList()));
        List<String> outputs = new ArrayList<>();
        for (int e = 0; e < experts; e++) {
            Map<String, String> rename = renames.get(e);
            String prefix = scope + "/expert" + e + "/";
            for (NodeProto n : block.nodes()) {
                NodeProto.Builder b = n.toBuilder().setName(prefix + relative(n.getName()));
                for (int i = 0; i < n.getInputCount(); i++) {
                    String in = n.getInput(i);
                    b.setInput(i, produced.contains(in) ? prefix + relative(in) : rename.getOrDefault(in, in));
                }
                for (int i = 0; i < n.getOutputCount(); i++) {
                    if (!n.getOutput(i).isEmpty()) {
                        b.setOutput(i, prefix + relative(n.getOutput(i)));
                    }
                }
                nodes.add(b.build());
            }
            outputs.add(prefix + relative(block.output()));
        }
        nodes.add(node("Concat", outputs, scope + "/experts_flat", ints("axis", -1)));
        nodes.add(int64s(scope + "/experts_shape", reshape(rank - 1, 0, experts, width)));
        nodes.add(node("Reshape", List.of(scope + "/experts_flat", scope + "/experts_shape"), scope + "/experts"));
        nodes.add(int64s(scope + "/weights_shape", reshape(rank - 1, 1, experts)));
        nodes.add(node("Reshape", List.of(weights, scope + "/weights_shape"), scope + "/weights_row"));
        nodes.add(node("MatMul", List.of(scope + "/weights_row", scope + "/experts"), scope + "/mixed"));
        nodes.add(int64s(scope + "/output_shape", reshape(rank - 1, 0, width)));
        nodes.add(node("Reshape", List.of(scope + "/mixed", scope + "/output_shape"), block.output()));
        edit.replace(firstOutputs(block), nodes);
    }

    /**
     * Replaces {@code block} by one {@code com.microsoft.MoE} node: {@code fc1} ({@code [E, fc1 width, width]},
     * nn.Linear layout; SwiGLU's gate and up rows interleaved), {@code fc2} ({@code [E, width, inner]}) and their
     * biases ({@code [E, ·]}, or null) are initializers; {@code gate} is the {@code [width, E]} gate, {@code gateBias}
     * its bias or null.
     *
     * @throws IllegalArgumentException if the block has no {@link Block#activation()} (callers refuse it first)
     */
    public static void addContrib(GraphEdit edit, Block block, String fc1, String fc1Bias, String fc2, String fc2Bias,
                                  String gate, String gateBias, int k, int experts, String scope) {
        if (block.activation() == null) {
            throw new IllegalArgumentException("no com.microsoft.MoE activation for the MLP writing "
                    + block.output());
        }
        List<NodeProto> nodes = new ArrayList<>();
        String logits = logits(nodes, block.input(), gate, gateBias, scope);
        nodes.add(int64s(scope + "/logits_shape", -1, experts));
        nodes.add(node("Reshape", List.of(logits, scope + "/logits_shape"), scope + "/router_logits"));
        NodeProto.Builder moe = NodeProto.newBuilder().setOpType("MoE").setDomain("com.microsoft")
                .setName(scope + "/MoE").addInput(block.input()).addInput(scope + "/router_logits").addInput(fc1)
                .addInput(fc1Bias == null ? "" : fc1Bias).addInput(fc2).addInput(fc2Bias == null ? "" : fc2Bias)
                .addOutput(block.output())
                .addAttribute(ints("k", k)).addAttribute(ints("normalize_routing_weights", 1))
                .addAttribute(string("activation_type", block.activation().name().toLowerCase(java.util.Locale.ROOT)));
        if (block.activation() == Activation.SWIGLU) {
            moe.addAttribute(ints("swiglu_fusion", 1)).addAttribute(floats("activation_alpha", 1))
                    .addAttribute(floats("activation_beta", 0));
        }
        nodes.add(moe.build());
        edit.importOpset("com.microsoft", 1).replace(firstOutputs(block), nodes);
    }

    /**
     * Checks that {@code model} imports the default opset 11 or later, which the standard-ops gate needs
     * ({@code TopK} with {@code k} as an input, {@code ScatterElements}).
     *
     * @throws UnsupportedModelException naming the model otherwise
     */
    public static void requireGateOpset(OnnxModel model) {
        long version = model.proto().getOpsetImportList().stream().filter(o -> o.getDomain().isEmpty()
                || o.getDomain().equals("ai.onnx")).mapToLong(o -> o.getVersion()).max().orElse(0);
        if (version < 11) {
            throw new UnsupportedModelException(model.file(), null, "imports opset " + version + "; token gates in "
                    + "standard ops need opset 11 or later (TopK, ScatterElements)");
        }
    }

    /**
     * Adds a top-{@code k} gate reading {@code input} right after its writer: {@code gate} ({@code [width, E]}) and
     * {@code gateBias} ({@code [E]}, or null) are initializers. Returns the value of the {@code [.., E]} weights: the
     * softmax of the {@code k} largest logits at their experts, 0 elsewhere. Standard ops at opset 11 and later.
     */
    public static String addTokenGate(GraphEdit edit, String input, String gate, String gateBias, int k,
                                      String scope) {
        List<NodeProto> nodes = new ArrayList<>();
        String weights = gateWeights(nodes, logits(nodes, input, gate, gateBias, scope), k, scope);
        edit.insertAfter(input, nodes);
        return weights;
    }

    /** The gate logits {@code h·G (+ b)}. */
    private static String logits(List<NodeProto> nodes, String input, String gate, String bias, String scope) {
        nodes.add(node("MatMul", List.of(input, gate), scope + "/logits_w"));
        if (bias == null) {
            return scope + "/logits_w";
        }
        nodes.add(node("Add", List.of(scope + "/logits_w", bias), scope + "/logits"));
        return scope + "/logits";
    }

    /** {@code [.., E]} weights: the softmax of the top-{@code k} gate logits at their experts, 0 elsewhere. */
    private static String gateWeights(List<NodeProto> nodes, String logits, int k, String scope) {
        nodes.add(int64s(scope + "/k", k));
        nodes.add(NodeProto.newBuilder().setOpType("TopK").setName(scope + "/top").addInput(logits)
                .addInput(scope + "/k").addOutput(scope + "/top_logits").addOutput(scope + "/top_experts")
                .addAttribute(ints("axis", -1)).build());
        nodes.add(node("Softmax", List.of(scope + "/top_logits"), scope + "/top_weights", ints("axis", -1)));
        nodes.add(node("Shape", List.of(logits), scope + "/logits_dims"));
        nodes.add(node("ConstantOfShape", List.of(scope + "/logits_dims"), scope + "/zeros",
                Nodes.tensor("value", Nodes.floatTensor(0))));
        nodes.add(node("ScatterElements", List.of(scope + "/zeros", scope + "/top_experts", scope + "/top_weights"),
                scope + "/weights", ints("axis", -1)));
        return scope + "/weights";
    }

    /** {@code name} without its leading slash, to follow a scope. */
    private static String relative(String name) {
        return name.startsWith("/") ? name.substring(1) : name;
    }

    private static boolean readBySigmoid(List<NodeProto> nodes, String value) {
        return nodes.stream().anyMatch(n -> n.getOpType().equals("Sigmoid") && n.getInputList().contains(value));
    }

    private static Set<String> firstOutputs(Block block) {
        Set<String> out = new LinkedHashSet<>();
        block.nodes().forEach(n -> out.add(n.getOutput(0)));
        return out;
    }

    /**
     * The activation {@code com.microsoft.MoE} computes for the block's nodes besides its dense layers: ReLU; SiLU
     * ({@code x·sigmoid(x)}); GELU (the erf form {@code 0.5·x·(1 + erf(x/√2))} as exporters write it, {@code Gelu} or
     * {@code FastGelu}); SwiGLU with two layers reading the input ({@code silu(gate)·up}); else null.
     */
    private static Activation activation(List<NodeProto> nodes, List<AffineLayer> layers, String input) {
        List<String> ops = new ArrayList<>();
        for (NodeProto n : nodes) {
            boolean dense = layers.stream().anyMatch(l -> n.getInputList().contains(l.weight())
                    || l.bias() != null && n.getInputList().contains(l.bias()));
            if (!dense && !n.getOpType().equals("Constant")) {
                ops.add(n.getOpType());
            }
        }
        java.util.Collections.sort(ops);
        long entries = layers.stream().filter(l -> l.input().equals(input)).count();
        boolean twoLayers = layers.size() == 2 && entries == 1;
        if (layers.size() == 3 && entries == 2 && ops.equals(List.of("Mul", "Mul", "Sigmoid"))) {
            return Activation.SWIGLU;
        }
        if (!twoLayers) {
            return null;
        }
        if (ops.equals(List.of("Relu"))) {
            return Activation.RELU;
        }
        if (ops.equals(List.of("Mul", "Sigmoid"))) {
            return Activation.SILU;
        }
        if (ops.equals(List.of("Gelu")) || ops.equals(List.of("FastGelu"))
                || ops.equals(List.of("Add", "Div", "Erf", "Mul", "Mul"))) {
            return Activation.GELU;
        }
        return null;
    }
}
