package dev.graft.graph;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The part of a model's main graph downstream of one value: every node that reads it, directly or through other
 * such nodes, in graph order. A partial merge keeps such a part (a head) per model; {@link GraphEdit#addCopy}
 * adds one model's branch to another graph under new names.
 */
public final class Branch {
    /** A node of the branch as its readers need it: name, op type, inputs and outputs. */
    public record Node(String name, String opType, List<String> inputs, List<String> outputs) {
        /** The node's second input (a layer's weight), or null if it has fewer inputs. */
        public String weightInput() {
            return inputs.size() > 1 ? inputs.get(1) : null;
        }
    }

    private final List<NodeProto> nodes;
    private final Set<String> produced = new HashSet<>();

    private Branch(List<NodeProto> nodes) {
        this.nodes = List.copyOf(nodes);
        nodes.forEach(n -> produced.addAll(n.getOutputList()));
    }

    /** The nodes of {@code model} that read {@code value}, directly or through other such nodes. */
    public static Branch from(OnnxModel model, String value) {
        Set<String> reached = new HashSet<>(List.of(value));
        List<NodeProto> out = new ArrayList<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            if (n.getInputList().stream().anyMatch(reached::contains)) {
                out.add(n);
                reached.addAll(n.getOutputList());
            }
        }
        return new Branch(out);
    }

    /** The branch's nodes, in graph order. */
    public List<Node> nodes() {
        return nodes.stream().map(n -> new Node(n.getName(), n.getOpType(), List.copyOf(n.getInputList()),
                List.copyOf(n.getOutputList()))).toList();
    }

    /** Whether a node of the branch writes {@code value}. */
    public boolean produces(String value) {
        return produced.contains(value);
    }

    /** Whether the branch holds the node named {@code name} that reads {@code weight}. */
    public boolean holds(String name, String weight) {
        return nodes.stream().anyMatch(n -> n.getName().equals(name) && n.getInputList().contains(weight));
    }

    /** The values the branch's nodes write. */
    Set<String> produced() {
        return produced;
    }

    /** The nodes as they are in the graph. */
    List<NodeProto> protos() {
        return nodes;
    }
}
