package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;

/**
 * Permutation inference for BatchNormalization, InstanceNormalization: per-channel parameters follow channel axis
 * 1.
 */
final class ChannelNormRule extends OpRule {
    ChannelNormRule() {
        super("BatchNormalization", "InstanceNormalization");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.dimsOf(n.getInput(0));
        if (x == null || x.length < 2) {
            g.unknown(n, where + " has an input Graft cannot follow");
            return;
        }
        for (int k = 1; k < n.getInputCount(); k++) {
            int[] p = n.getInput(k).isEmpty() ? null : g.dimsOf(n.getInput(k));
            if (p == null || p.length != 1) {
                g.unknown(n, where + " has parameters Graft cannot follow");
                return;
            }
            g.dims.union(x[1], p[0], where);
        }
        g.setOutput(n, 0, x.clone(), where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                g.values.put(n.getOutput(k), g.fixedDims(g.shapeOf(n.getOutput(k)), where)); // running statistics
            }
        }
    }
}
