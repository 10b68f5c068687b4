package dev.graft.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Edits to a copy of a model's graph, for a rewrite's template ({@link dev.graft.exec.RewritePlan}): a branch
 * copied in under new names, a norm folded into its layer, a low-rank branch beside a dense node, a weight mixed
 * from coefficients fed at run time or read from a graph input, initializer reads renamed; or a new graph over the
 * model's initializers. Nodes stay in topological order: inserted nodes follow the node they extend. The model the
 * edits start from is not changed; {@link #build()} gives the edited copy.
 */
public final class GraphEdit {
    /** A dense node (default-domain {@code MatMul} or {@code Gemm}): its name, weight, input and output values. */
    public record DenseNode(String name, String weight, String input, String output) {
    }

    private final ModelProto.Builder model;
    private final GraphProto.Builder graph;
    private int prepended;

    private GraphEdit(ModelProto.Builder model) {
        this.model = model;
        this.graph = model.getGraphBuilder();
    }

    /** Edits of a copy of {@code m}'s model. */
    public static GraphEdit of(OnnxModel m) {
        return new GraphEdit(m.proto().toBuilder());
    }

    /** Drops the graph's {@code value_info} (shapes that the edits may have made untrue). */
    public GraphEdit clearValueInfo() {
        graph.clearValueInfo();
        return this;
    }

    /**
     * Appends {@code branch}'s nodes (of another model) with {@code suffix} added to the names of their nodes, of
     * the values they write and of the inputs in {@code renamed} (initializers the branch brings along).
     */
    public GraphEdit addCopy(Branch branch, Set<String> renamed, String suffix) {
        Set<String> introduced = new HashSet<>(renamed);
        introduced.addAll(branch.produced());
        for (NodeProto n : branch.protos()) {
            NodeProto.Builder b = n.toBuilder().setName(n.getName().isEmpty() ? "" : n.getName() + suffix);
            for (int k = 0; k < n.getInputCount(); k++) {
                if (introduced.contains(n.getInput(k))) {
                    b.setInput(k, n.getInput(k) + suffix);
                }
            }
            for (int k = 0; k < n.getOutputCount(); k++) {
                if (!n.getOutput(k).isEmpty()) {
                    b.setOutput(k, n.getOutput(k) + suffix);
                }
            }
            graph.addNode(b);
        }
        return this;
    }

    /** Adds a graph output: {@code output}'s type under {@code name}. */
    public GraphEdit addOutput(ValueInfoProto output, String name) {
        graph.addOutput(output.toBuilder().setName(name));
        return this;
    }

    /** Adds a graph input. */
    public GraphEdit addInput(ValueInfoProto input) {
        graph.addInput(input);
        return this;
    }

    /**
     * Drops layer {@code l}'s norm node (names with {@code suffix}): the layer's last node writes the norm's
     * output instead, reading the norm's shift as its bias if it had none. The folded weights are the caller's
     * ({@link AffineLayer#weights}, {@link AffineLayer#biases}).
     *
     * @throws IllegalStateException if the graph has no such norm or layer node (the layer is not of this graph)
     */
    public GraphEdit foldNorm(AffineLayer l, String suffix) {
        AffineLayer.Norm norm = l.norm();
        int at = writer(norm.output() + suffix);
        if (at < 0) {
            throw new IllegalStateException("no node writes '" + norm.output() + suffix + "'");
        }
        graph.removeNode(at);
        int layer = writer(norm.input() + suffix);
        if (layer < 0) {
            throw new IllegalStateException("no node writes '" + norm.input() + suffix + "'");
        }
        NodeProto.Builder n = graph.getNodeBuilder(layer);
        n.setOutput(0, norm.output() + suffix);
        if (l.bias() == null) {
            while (n.getInputCount() < 3) {
                n.addInput("");
            }
            n.setInput(2, norm.bias() + suffix);
        }
        return this;
    }

    /** The index of the node whose first output is {@code value}, or -1. */
    private int writer(String value) {
        for (int i = 0; i < graph.getNodeCount(); i++) {
            if (graph.getNode(i).getOutputCount() > 0 && graph.getNode(i).getOutput(0).equals(value)) {
                return i;
            }
        }
        return -1;
    }

    /** The dense nodes whose second input is one of {@code weights}, in graph order. */
    public List<DenseNode> denseNodesReading(Set<String> weights) {
        List<DenseNode> out = new ArrayList<>();
        for (NodeProto n : graph.getNodeList()) {
            boolean dense = n.getOpType().equals("MatMul") || n.getOpType().equals("Gemm");
            if (dense && n.getDomain().isEmpty() && n.getInputCount() > 1 && weights.contains(n.getInput(1))) {
                out.add(new DenseNode(n.getName(), n.getInput(1), n.getInput(0), n.getOutput(0)));
            }
        }
        return out;
    }

    /**
     * Adds a low-rank branch beside dense node {@code d}: {@code y = d(x) + (x·A)·B}. The node now writes
     * {@code y.lora_base}; three nodes named under {@code scope} compute {@code y.lora_xa = x·A},
     * {@code y.lora_delta = y.lora_xa·B} and their sum into {@code y}, right after it.
     */
    public GraphEdit addLowRankBranch(DenseNode d, String a, String b, String scope) {
        String y = d.output();
        int at = rerouteToBase(y);
        graph.addNode(at + 1, node("MatMul", List.of(d.input(), a), y + ".lora_xa", scope));
        graph.addNode(at + 2, node("MatMul", List.of(y + ".lora_xa", b), y + ".lora_delta", scope));
        graph.addNode(at + 3, node("Add", List.of(y + ".lora_base", y + ".lora_delta"), y, scope));
        return this;
    }

    /**
     * Adds a gated low-rank branch beside dense node {@code d}: {@code y = d(x) + ((x·A) ⊙ (g·P))·B}, where
     * {@code g} ({@code [.., E]}) is a gate's weights per token, {@code P} ({@code [E, R]}) maps each expert to the
     * columns of {@code A} ({@code [in, R]}) and rows of {@code B} ({@code [R, out]}) that are its own (a 0/1
     * initializer): the experts' low-rank updates stacked, each weighted by its gate weight. The node now writes
     * {@code y.lora_base}.
     */
    public GraphEdit addGatedLowRankBranch(DenseNode d, String a, String b, String gate, String experts,
                                           String scope) {
        String y = d.output();
        int at = rerouteToBase(y);
        graph.addNode(at + 1, node("MatMul", List.of(d.input(), a), y + ".lora_xa", scope));
        graph.addNode(at + 2, node("MatMul", List.of(gate, experts), y + ".lora_gate", scope));
        graph.addNode(at + 3, node("Mul", List.of(y + ".lora_xa", y + ".lora_gate"), y + ".lora_gated", scope));
        graph.addNode(at + 4, node("MatMul", List.of(y + ".lora_gated", b), y + ".lora_delta", scope));
        graph.addNode(at + 5, node("Add", List.of(y + ".lora_base", y + ".lora_delta"), y, scope));
        return this;
    }

    /** The {@code Gather} nodes (axis 0) that look rows up in {@code table}, as dense nodes: table, indices, rows. */
    public List<DenseNode> gatherNodesReading(String table) {
        List<DenseNode> out = new ArrayList<>();
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Gather") && n.getDomain().isEmpty() && n.getInputCount() == 2
                    && n.getInput(0).equals(table) && dev.graft.onnx.Attributes.getInt(n, "axis", 0) == 0) {
                out.add(new DenseNode(n.getName(), table, n.getInput(1), n.getOutput(0)));
            }
        }
        return out;
    }

    /**
     * Adds to lookup {@code g} of a table tied to a dense layer's weight ({@code T = Wᵀ}, the embedding of a tied
     * head) the low-rank update that branch {@code (x·A)·B} makes to {@code W}: {@code ΔT = (A·B)ᵀ}, so
     * {@code rows = T[ids] + Bᵀ[ids]·Aᵀ}. The node now writes {@code rows.lora_base}; nodes named under
     * {@code scope} transpose the factors, gather and multiply, and add into {@code rows}.
     */
    public GraphEdit addTiedLookupBranch(DenseNode g, String a, String b, String scope) {
        String y = g.output();
        int at = rerouteToBase(y);
        graph.addNode(at + 1, node("Transpose", List.of(b), y + ".lora_bt", scope));
        graph.addNode(at + 2, node("Gather", List.of(y + ".lora_bt", g.input()), y + ".lora_rows", scope));
        graph.addNode(at + 3, node("Transpose", List.of(a), y + ".lora_at", scope));
        graph.addNode(at + 4, node("MatMul", List.of(y + ".lora_rows", y + ".lora_at"), y + ".lora_delta", scope));
        graph.addNode(at + 5, node("Add", List.of(y + ".lora_base", y + ".lora_delta"), y, scope));
        return this;
    }

    /** Makes the node that writes {@code y} write {@code y.lora_base} instead; returns its index. */
    private int rerouteToBase(String y) {
        return renameOutput(y, y + ".lora_base");
    }

    /**
     * Makes the node whose first output is {@code value} write {@code renamed} instead (nodes that read
     * {@code value} still do: the caller adds the nodes that write it again); returns the node's index.
     *
     * @throws IllegalStateException if no node writes {@code value}
     */
    public int renameOutput(String value, String renamed) {
        int at = writer(value);
        if (at < 0) {
            throw new IllegalStateException("no node writes '" + value + "'");
        }
        graph.getNodeBuilder(at).setOutput(0, renamed);
        return at;
    }

    /**
     * Inserts {@code nodes}, in order, right after the node whose first output is {@code value}; after the nodes
     * placed before all others if no node writes it (a graph input or an initializer).
     */
    public GraphEdit insertAfter(String value, List<NodeProto> nodes) {
        int at = writer(value);
        int from = at < 0 ? prepended : at + 1;
        for (int k = 0; k < nodes.size(); k++) {
            graph.addNode(from + k, nodes.get(k));
        }
        if (from <= prepended) {
            prepended += nodes.size();
        }
        return this;
    }

    /** Places {@code nodes} before all other nodes (after those placed there before). */
    public GraphEdit prepend(List<NodeProto> nodes) {
        for (NodeProto n : nodes) {
            graph.addNode(prepended++, n);
        }
        return this;
    }

    /** Whether the graph has an input named {@code name}. */
    public boolean hasInput(String name) {
        return graph.getInputList().stream().anyMatch(i -> i.getName().equals(name));
    }

    private static NodeProto node(String op, List<String> inputs, String output, String scope) {
        String suffix = output.substring(output.lastIndexOf('.') + 1);
        return NodeProto.newBuilder().setOpType(op).addAllInput(inputs).addOutput(output)
                .setName(scope + "/" + op + "_" + suffix).build();
    }

    /**
     * Removes every node, input, output and {@code value_info}: the start of another graph over the same
     * initializers and opsets.
     */
    public GraphEdit clearGraph() {
        graph.clearNode().clearInput().clearOutput().clearValueInfo();
        prepended = 0;
        return this;
    }

    /** Adds a float32 graph input of shape {@code [length]}. */
    public GraphEdit addFloatInput(String name, long length) {
        graph.addInput(floatValue(name, new long[] {length}));
        return this;
    }

    /** Adds a float32 graph output of shape {@code shape}. */
    public GraphEdit addFloatOutput(String name, long[] shape) {
        graph.addOutput(floatValue(name, shape));
        return this;
    }

    /**
     * Makes every node that reads initializer {@code weight} read the float32 graph input {@code input} of shape
     * {@code shape} instead (added here): a weight fed at run time.
     */
    public GraphEdit readAsInput(String weight, String input, long[] shape) {
        renameInputs(Map.of(weight, input));
        graph.addInput(floatValue(input, shape));
        return this;
    }

    private static ValueInfoProto floatValue(String name, long[] shape) {
        TensorShapeProto.Builder dims = TensorShapeProto.newBuilder();
        for (long d : shape) {
            dims.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(dims))).build();
    }

    /**
     * Adds nodes computing {@code output = weight + Σ_t coefficients[indexes[t]]·deltas[t]} from float32 weight
     * {@code weight}, the graph input {@code coefficients} and initializers {@code deltas} (a {@code Gather} of each
     * coefficient, a {@code Mul}, one {@code Sum}), placed before all other nodes.
     */
    public GraphEdit mixWeight(String weight, String output, String coefficients, long[] indexes, List<String> deltas) {
        String scope = "/graft_mix/" + weight;
        NodeProto.Builder sum = NodeProto.newBuilder().setOpType("Sum").setName(scope + "/Sum").addInput(weight)
                .addOutput(output);
        for (int t = 0; t < deltas.size(); t++) {
            String index = scope + "/index_" + t;
            String coefficient = scope + "/coefficient_" + t;
            String term = scope + "/term_" + t;
            graph.addNode(prepended++, NodeProto.newBuilder().setOpType("Constant").setName(index).addOutput(index)
                    .addAttribute(AttributeProto.newBuilder().setName("value")
                            .setType(AttributeProto.AttributeType.TENSOR).setT(TensorProto.newBuilder()
                                    .setDataType(TensorProto.DataType.INT64_VALUE).addInt64Data(indexes[t]))).build());
            graph.addNode(prepended++, NodeProto.newBuilder().setOpType("Gather").setName(coefficient)
                    .addInput(coefficients).addInput(index).addOutput(coefficient).build());
            graph.addNode(prepended++, NodeProto.newBuilder().setOpType("Mul").setName(term).addInput(coefficient)
                    .addInput(deltas.get(t)).addOutput(term).build());
            sum.addInput(term);
        }
        graph.addNode(prepended++, sum.build());
        return this;
    }

    /** Every node input named by a key of {@code renames} reads the value it maps to instead. */
    public GraphEdit renameInputs(Map<String, String> renames) {
        if (renames.isEmpty()) {
            return this;
        }
        for (NodeProto.Builder n : graph.getNodeBuilderList()) {
            for (int k = 0; k < n.getInputCount(); k++) {
                n.setInput(k, renames.getOrDefault(n.getInput(k), n.getInput(k)));
            }
        }
        return this;
    }

    /**
     * Removes the nodes whose first output is in {@code removed} and puts {@code nodes}, in order, where the last of
     * them was: a block of nodes replaced by another that reads what the block read and writes what it wrote.
     *
     * @throws IllegalStateException if a value in {@code removed} has no writer
     */
    public GraphEdit replace(Set<String> removed, List<NodeProto> nodes) {
        int at = -1;
        int found = 0;
        for (int i = graph.getNodeCount() - 1; i >= 0; i--) {
            NodeProto n = graph.getNode(i);
            if (n.getOutputCount() > 0 && removed.contains(n.getOutput(0))) {
                at = at < 0 ? i : at - 1;
                graph.removeNode(i);
                found++;
            }
        }
        if (found != removed.size()) {
            throw new IllegalStateException("replacing " + removed.size() + " nodes but " + found + " write them");
        }
        for (int k = 0; k < nodes.size(); k++) {
            graph.addNode(at + k, nodes.get(k));
        }
        return this;
    }

    /** Imports operator set {@code domain} at {@code version} unless the model already imports that domain. */
    public GraphEdit importOpset(String domain, long version) {
        if (model.getOpsetImportList().stream().noneMatch(o -> o.getDomain().equals(domain))) {
            model.addOpsetImport(ai.onnx.proto.OnnxMl.OperatorSetIdProto.newBuilder().setDomain(domain)
                    .setVersion(version));
        }
        return this;
    }

    /** The edited model. */
    public ModelProto build() {
        return model.build();
    }
}
