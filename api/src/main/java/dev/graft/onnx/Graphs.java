package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.function.BiConsumer;

/**
 * Walks a graph and its subgraphs (attributes of {@code If}, {@code Loop}, {@code Scan}, ...), giving each a
 * scope: empty for the main graph, {@code node/attribute} (with {@code [i]} for graph lists) below it.
 */
public final class Graphs {
    private Graphs() {
    }

    /** Calls {@code visitor} with (scope, graph) for the graph and every subgraph, parents first. */
    public static void forEach(GraphProto root, BiConsumer<String, GraphProto> visitor) {
        walk(root, "", visitor);
    }

    private static void walk(GraphProto graph, String scope, BiConsumer<String, GraphProto> visitor) {
        visitor.accept(scope, graph);
        for (NodeProto node : graph.getNodeList()) {
            for (AttributeProto a : node.getAttributeList()) {
                String sub = (scope.isEmpty() ? "" : scope + "/") + label(node) + "/" + a.getName();
                if (a.hasG()) {
                    walk(a.getG(), sub, visitor);
                }
                for (int i = 0; i < a.getGraphsCount(); i++) {
                    walk(a.getGraphs(i), sub + "[" + i + "]", visitor);
                }
            }
        }
    }

    /** A node's name, or {@code OpType(outputs)} for unnamed nodes. */
    public static String label(NodeProto node) {
        return node.getName().isEmpty() ? node.getOpType() + "(" + String.join(",", node.getOutputList()) + ")"
                : node.getName();
    }

    /** True for a {@code Constant} node of the default domain holding a tensor in its {@code value}. */
    public static boolean isTensorConstant(NodeProto node) {
        return node.getOpType().equals("Constant") && node.getDomain().isEmpty() && node.getOutputCount() == 1
                && node.getAttributeList().stream().anyMatch(a -> a.getName().equals("value") && a.hasT());
    }

    /** The tensor of a {@link #isTensorConstant tensor Constant}. */
    public static ai.onnx.proto.OnnxMl.TensorProto constantValue(NodeProto node) {
        return node.getAttributeList().stream().filter(a -> a.getName().equals("value")).findFirst()
                .orElseThrow().getT();
    }
}
