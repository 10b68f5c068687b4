package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;

/** Permutation inference for ops that read only a shape: their outputs are fixed, their inputs untouched. */
final class ShapeOnlyRule extends OpRule {
    ShapeOnlyRule() {
        super("Shape", "Size");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        g.outputsFixed(n, where);
    }
}
