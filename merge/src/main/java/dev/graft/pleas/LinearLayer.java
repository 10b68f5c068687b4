package dev.graft.pleas;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A linear layer of a graph: {@code y = x·W + b} as {@code MatMul} with a weight {@code [in, out]} and an
 * optional bias {@code Add}, or as {@code Gemm} (weight {@code [in, out]} or, with {@code transB}, {@code [out,
 * in]}; bias in its third input). {@code input} is the activation it reads, {@code output} the value after the
 * bias.
 */
record LinearLayer(String weight, boolean outIn, String bias, String input, String output, int in, int out) {
    /** The layers of {@code model} in graph order; weights must be 2-D initializers. */
    static List<LinearLayer> find(OnnxModel model) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            for (String in : n.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        List<LinearLayer> out = new ArrayList<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            boolean gemm = n.getOpType().equals("Gemm");
            if (!n.getDomain().isEmpty() || !(gemm || n.getOpType().equals("MatMul")) || n.getInputCount() < 2) {
                continue;
            }
            String w = n.getInput(1);
            var weight = model.weight(w);
            if (weight.isEmpty() || weight.get().shape().length != 2 || model.weight(n.getInput(0)).isPresent()) {
                continue;
            }
            long[] shape = weight.get().shape();
            if (gemm && intAttr(n, "transA") == 1) {
                continue;
            }
            boolean outIn = gemm && intAttr(n, "transB") == 1;
            String bias = gemm && n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? n.getInput(2) : null;
            String output = n.getOutput(0);
            List<NodeProto> next = consumers.getOrDefault(output, List.of());
            if (bias == null && next.size() == 1 && next.get(0).getOpType().equals("Add")) {
                NodeProto add = next.get(0);
                String other = add.getInput(0).equals(output) ? add.getInput(1) : add.getInput(0);
                var b = model.weight(other);
                if (b.isPresent() && b.get().shape().length == 1) {
                    bias = other;
                    output = add.getOutput(0);
                }
            }
            int in = (int) (outIn ? shape[1] : shape[0]);
            int outs = (int) (outIn ? shape[0] : shape[1]);
            out.add(new LinearLayer(w, outIn, bias, n.getInput(0), output, in, outs));
        }
        return out;
    }

    private static long intAttr(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getI();
            }
        }
        return 0;
    }
}
