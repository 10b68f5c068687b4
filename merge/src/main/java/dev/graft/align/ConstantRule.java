package dev.graft.align;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;

/** Permutation inference for Constant: constants are never permuted, so a non-scalar one fixes whatever it meets. */
final class ConstantRule extends OpRule {
    ConstantRule() {
        super("Constant");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        long[] shape = g.shapeOf(n.getOutput(0));
        if (shape == null) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.getName().equals("value")) {
                    shape = a.getT().getDimsList().stream().mapToLong(Long::longValue).toArray();
                }
            }
        }
        g.values.put(n.getOutput(0), g.fixedDims(shape, "constant '" + n.getOutput(0) + "'"));
    }
}
