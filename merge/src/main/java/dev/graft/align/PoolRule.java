package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;

/** Permutation inference for pool ops: batch and channel axes pass; spatial axes are new and fixed. */
final class PoolRule extends OpRule {
    PoolRule() {
        super("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
            "GlobalMaxPool", "GlobalLpPool");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.dimsOf(n.getInput(0));
        long[] outShape = g.shapeOf(n.getOutput(0));
        if (x == null || outShape == null || x.length < 2) {
            g.unknown(n, where + " has a value of unknown shape");
            return;
        }
        int[] out = g.fixedDims(outShape, where + ": spatial axes do not permute");
        out[0] = x[0];
        out[1] = x[1];
        g.setOutput(n, 0, out, where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                g.values.put(n.getOutput(k), g.fixedDims(g.shapeOf(n.getOutput(k)), where)); // MaxPool indices
            }
        }
    }
}
