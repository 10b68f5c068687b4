package dev.graft.align;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.data.ValueShapes;
import dev.graft.index.LoraSlots;
import dev.graft.onnx.OnnxModel;
import java.util.Map;


/**
 * Finds a model's {@link PermutationSpec} by following every value's axes through the main graph, op by op, in
 * the graph's (topological) order. Each axis is a {@link Dims} variable; ops state which axes must be permuted
 * alike: element-wise ops and residual {@code Add} unify broadcast-aligned axes, {@code MatMul}/{@code Gemm} unify
 * the contracted axes (a weight's input axis with the activation's, or the two sides of {@code Q·Kᵀ}),
 * {@code Conv} ties input channels to the kernel's and output channels to its bias, normalisations tie their
 * scale and shift to the normalised axis, reductions drop the reduced axes, and {@code Reshape},
 * {@code Flatten}, {@code Squeeze} and {@code Unsqueeze} split or merge axes as the concrete shapes (from one
 * probe run in ONNX Runtime) show. Graph inputs and outputs (LoRA input slots too, though they have defaults),
 * constants, and every op not listed here fix the axes they touch, recording the node. Of ONNX Runtime's contrib ops ({@code com.microsoft}) the fused norms
 * ({@code SkipLayerNormalization}, {@code SkipSimplifiedLayerNormalization}) are followed; other domains and
 * subgraphs are not (their axes are fixed). The walk is this class; each op family's rule is an {@link OpRule} ({@link OpRules} finds it by op
 * type); the axis state is an {@link AxisGraph}; {@link SpecAssembly} turns what is left free into the spec.
 */
public final class PermutationInference {
    private PermutationInference() {
    }

    /**
     * Infers the spec of {@code model}, whose values have the given concrete {@code shapes} (see
     * {@link ValueShapes}).
     *
     * @param permuteOutputs let groups reach graph outputs: aligning a model then reorders its output
     *                       coordinates too (right when it is aligned in order to merge, wrong when it must keep
     *                       its interface)
     */
    public static PermutationSpec infer(OnnxModel model, Map<String, ValueShapes.Shape> shapes,
                                        boolean permuteOutputs) {
        AxisGraph g = new AxisGraph(model, shapes);
        GraphProto graph = model.proto().getGraph();
        LoraSlots slots = LoraSlots.of(model);
        for (ValueInfoProto in : graph.getInputList()) {
            String name = in.getName();
            if (!g.initializers.containsKey(name)) {
                g.values.put(name, g.fixedDims(g.shapeOf(name), "graph input '" + name + "'"));
            } else if (slots.holding(name).isPresent()) {
                // an adapter's factor fed at run time: its axes are the model's interface, as a graph input's
                g.values.put(name, g.fixedDims(g.initializers.get(name).shape(), "LoRA input slot '" + name
                        + "' (an adapter fed at run time would not be permuted)"));
            }
        }
        for (NodeProto node : graph.getNodeList()) {
            visit(node, g);
        }
        for (ValueInfoProto out : graph.getOutputList()) {
            int[] d = g.dimsOf(out.getName());
            if (d != null && !permuteOutputs) {
                for (int x : d) {
                    g.dims.fix(x, "reaches graph output '" + out.getName() + "'");
                }
            }
        }
        return new SpecAssembly(g).spec();
    }

    private static void visit(NodeProto n, AxisGraph g) {
        String op = n.getOpType();
        String where = "node '" + label(n) + "' (" + op + ")";
        boolean standard = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
        OpRule rule = OpRules.of(standard ? "" : n.getDomain(), op);
        if (rule != null) {
            rule.apply(n, where, g);
        } else if (!standard) {
            g.unknown(n, where + " is in domain '" + n.getDomain() + "'");
        } else {
            g.unknown(n, where + " is not an op Graft can follow");
        }
    }

    private static String label(NodeProto n) {
        return n.getName().isEmpty() ? n.getOutput(0) : n.getName();
    }
}
