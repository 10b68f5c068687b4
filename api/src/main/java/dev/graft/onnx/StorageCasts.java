package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.GraftException;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Keeps a graph well-typed when an initializer is stored in another element type than the graph computes
 * with (for example float16 storage of a float32 model): a {@code Cast} node named {@code graft_cast/NAME}
 * converts the stored weight back, and its consumers read the Cast's output. Storing a weight again in the
 * graph's own type removes that Cast. Graph inputs and {@code value_info} that describe the initializer get
 * the stored type. The computation type never changes, so outputs differ only by the storage rounding.
 */
final class StorageCasts {
    static final String PREFIX = "graft_cast/";

    private StorageCasts() {
    }

    /**
     * Adjusts {@code graph} (main graph, initializers already removed) for the tensors' stored types.
     *
     * @param opset the model's default-domain opset: Cast accepts bfloat16 only from opset 13
     * @throws GraftException if a needed Cast is not valid at {@code opset}
     */
    static void apply(GraphProto.Builder graph, Map<String, ElementType> templateTypes, Iterable<OutputTensor> tensors,
                      long opset, Path target) {
        Map<String, Integer> castIndex = new HashMap<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto n = graph.getNode(i);
            if (n.getName().startsWith(PREFIX) && n.getOpType().equals("Cast")) {
                castIndex.put(n.getName().substring(PREFIX.length()), i);
            }
        }
        for (OutputTensor t : tensors) {
            ElementType stored = templateTypes.get(t.name());
            if (stored == null || t.verbatim()) {
                continue; // a new tensor: its consumers were written for the type it has
            }
            Integer existing = castIndex.get(t.name());
            ElementType graphType = existing == null ? stored : ElementType.fromCode(
                    (int) Attributes.getInt(graph.getNode(existing), "to", TensorProto.DataType.UNDEFINED_VALUE), null, t.name());
            ElementType now = t.type();
            if (now == graphType) {
                if (existing != null) {
                    String castOut = graph.getNode(existing).getOutput(0);
                    graph.removeNode(existing);
                    castIndex.clear();
                    for (int i = 0; i < graph.getNodeCount(); i++) {
                        NodeProto n = graph.getNode(i);
                        if (n.getName().startsWith(PREFIX)) {
                            castIndex.put(n.getName().substring(PREFIX.length()), i);
                        }
                    }
                    rename(graph, castOut, t.name());
                }
            } else if (existing == null) {
                if ((now == ElementType.BFLOAT16 || graphType == ElementType.BFLOAT16) && opset < 13) {
                    throw new GraftException(target, t.name(), "cannot store as bfloat16: the model imports opset "
                            + opset + " and Cast accepts bfloat16 only from opset 13 (use float16, or a model "
                            + "exported with opset 13 or later)");
                }
                String castOut = t.name() + "::graft_" + graphType.displayName();
                rename(graph, t.name(), castOut);
                graph.addNode(0, NodeProto.newBuilder().setOpType("Cast").setName(PREFIX + t.name())
                        .addInput(t.name()).addOutput(castOut)
                        .addAttribute(AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
                                .setI(graphType.code())));
                for (Map.Entry<String, Integer> e : castIndex.entrySet()) {
                    e.setValue(e.getValue() + 1);
                }
                castIndex.put(t.name(), 0);
            }
            retype(graph, t.name(), now);
        }
    }

    /** Points every node input named {@code from} (here and in subgraphs) at {@code to}. */
    private static void rename(GraphProto.Builder g, String from, String to) {
        for (NodeProto.Builder n : g.getNodeBuilderList()) {
            for (int i = 0; i < n.getInputCount(); i++) {
                if (n.getInput(i).equals(from)) {
                    n.setInput(i, to);
                }
            }
            for (AttributeProto.Builder a : n.getAttributeBuilderList()) {
                if (a.hasG()) {
                    rename(a.getGBuilder(), from, to);
                }
                for (GraphProto.Builder sub : a.getGraphsBuilderList()) {
                    rename(sub, from, to);
                }
            }
        }
    }

    private static void retype(GraphProto.Builder g, String name, ElementType type) {
        for (ValueInfoProto.Builder v : g.getInputBuilderList()) {
            if (v.getName().equals(name) && v.getType().hasTensorType()) {
                v.getTypeBuilder().getTensorTypeBuilder().setElemType(type.code());
            }
        }
        for (ValueInfoProto.Builder v : g.getValueInfoBuilderList()) {
            if (v.getName().equals(name) && v.getType().hasTensorType()) {
                v.getTypeBuilder().getTensorTypeBuilder().setElemType(type.code());
            }
        }
    }
}
