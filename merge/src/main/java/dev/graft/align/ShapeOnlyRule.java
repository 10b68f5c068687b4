package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.Set;

/** Permutation inference for ops that read only a shape: their outputs are fixed, their inputs untouched. */
final class ShapeOnlyRule implements OpRule {
    @Override
    public Set<String> ops() {
        return Set.of("Shape", "Size");
    }

    @Override
    public void apply(NodeProto n, String where, AxisGraph g) {
        g.outputsFixed(n, where);
    }
}
