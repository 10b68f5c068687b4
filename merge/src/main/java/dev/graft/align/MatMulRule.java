package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;

/**
 * Permutation inference for MatMul: the contracted axes of {@code A[..., m, k] · B[..., k, n]} are unified, batch
 * axes broadcast.
 */
final class MatMulRule extends OpRule {
    MatMulRule() {
        super("MatMul");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] a = g.dimsOf(n.getInput(0));
        int[] b = g.dimsOf(n.getInput(1));
        long[] outShape = g.shapeOf(n.getOutput(0));
        if (a == null || b == null || outShape == null || a.length < 2 || b.length < 2) {
            g.unknown(n, where + " has operands Graft cannot follow (unknown or 1-D)");
            return;
        }
        g.dims.union(a[a.length - 1], b[b.length - 2], where);
        int rank = outShape.length;
        int[] out = new int[rank];
        out[rank - 2] = a[a.length - 2];
        out[rank - 1] = b[b.length - 1];
        for (int k = 0; k < rank - 2; k++) {
            int ia = a.length - (rank - k);
            int ib = b.length - (rank - k);
            int da = ia >= 0 && g.dims.size(a[ia]) > 1 ? a[ia] : -1;
            int db = ib >= 0 && g.dims.size(b[ib]) > 1 ? b[ib] : -1;
            if (da >= 0 && db >= 0) {
                g.dims.union(da, db, where);
            }
            out[k] = da >= 0 ? da : db >= 0 ? db : g.one;
        }
        g.setOutput(n, 0, out, where);
    }
}
