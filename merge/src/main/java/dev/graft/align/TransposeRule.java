package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;

/** Permutation inference for Transpose: axes move with {@code perm}. */
final class TransposeRule extends OpRule {
    TransposeRule() {
        super("Transpose");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.firstInput(n, where);
        if (x == null) {
            return;
        }
        long[] perm = Attributes.getInts(n, "perm");
        int[] out = new int[x.length];
        for (int k = 0; k < x.length; k++) {
            out[k] = x[perm == null ? x.length - 1 - k : (int) perm[k]];
        }
        g.setOutput(n, 0, out, where);
    }
}
