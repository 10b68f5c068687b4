package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;

/**
 * Permutation inference for Gemm: like MatMul on 2-D operands with {@code transA}/{@code transB}; the bias {@code
 * C} broadcast onto the output.
 */
final class GemmRule extends OpRule {
    GemmRule() {
        super("Gemm");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] a = g.dimsOf(n.getInput(0));
        int[] b = g.dimsOf(n.getInput(1));
        if (a == null || b == null || a.length != 2 || b.length != 2) {
            g.unknown(n, where + " has operands Graft cannot follow");
            return;
        }
        boolean ta = Attributes.getInt(n, "transA", 0) == 1;
        boolean tb = Attributes.getInt(n, "transB", 0) == 1;
        int m = ta ? a[1] : a[0];
        int ka = ta ? a[0] : a[1];
        int kb = tb ? b[1] : b[0];
        int nn = tb ? b[0] : b[1];
        g.dims.union(ka, kb, where);
        int[] out = {m, nn};
        if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            int[] c = g.dimsOf(n.getInput(2));
            if (c == null) {
                g.unknown(n, where + " has a bias of unknown shape");
                return;
            }
            for (int k = 0; k < c.length; k++) {
                int axis = 2 - c.length + k;
                if (g.dims.size(c[k]) > 1) {
                    g.dims.union(out[axis], c[k], where);
                }
            }
        }
        g.setOutput(n, 0, out, where);
    }
}
