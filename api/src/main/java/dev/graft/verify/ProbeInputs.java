package dev.graft.verify;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;

/**
 * What a model's graph says about the valid range of an integer input: an input that reaches the indices of a
 * {@code Gather} over a weight table (through shape-only ops such as Cast, Unsqueeze or Reshape) must stay
 * below the table's row count. Inputs used otherwise (attention masks, for example) get ones.
 */
final class ProbeInputs {
    private static final Set<String> SHAPE_ONLY = Set.of("Cast", "Identity", "Unsqueeze", "Squeeze", "Reshape",
            "Flatten", "Expand", "Transpose");

    private ProbeInputs() {
    }

    /** The exclusive upper bound for an integer input's values, if it indexes a table. */
    static OptionalLong indexBound(OnnxModel model, String input) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            for (String in : n.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        long bound = Long.MAX_VALUE;
        Deque<String> todo = new ArrayDeque<>(List.of(input));
        Set<String> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            String value = todo.pop();
            if (!seen.add(value)) {
                continue;
            }
            for (NodeProto n : consumers.getOrDefault(value, List.of())) {
                if (n.getOpType().equals("Gather") && n.getInputCount() == 2 && n.getInput(1).equals(value)) {
                    Weight table = model.weight(n.getInput(0)).orElse(null);
                    if (table != null && table.shape().length > 0) {
                        long axis = 0;
                        for (AttributeProto a : n.getAttributeList()) {
                            if (a.getName().equals("axis")) {
                                axis = a.getI();
                            }
                        }
                        long[] shape = table.shape();
                        int ax = (int) (axis < 0 ? axis + shape.length : axis);
                        if (ax >= 0 && ax < shape.length) {
                            bound = Math.min(bound, shape[ax]);
                        }
                    }
                } else if (SHAPE_ONLY.contains(n.getOpType()) && n.getInputCount() > 0 && n.getInput(0).equals(value)) {
                    todo.addAll(n.getOutputList());
                }
            }
        }
        return bound == Long.MAX_VALUE ? OptionalLong.empty() : OptionalLong.of(bound);
    }
}
