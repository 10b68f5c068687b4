package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;

/**
 * Permutation inference for LayerNormalization and RMSNorm ({@code SimplifiedLayerNormalization}, ONNX Runtime's op
 * in the default domain, and ONNX's {@code RMSNormalization}): the mean and root mean square over the normalised
 * axes do not depend on the order of their entries, so the output keeps the input's axes; scale and shift follow the
 * normalised axes; the statistics outputs drop them.
 */
final class LayerNormRule extends OpRule {
    LayerNormRule() {
        super("LayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.firstInput(n, where);
        if (x == null) {
            return;
        }
        long axisAttr = Attributes.getInt(n, "axis", -1);
        int axis = (int) (axisAttr < 0 ? axisAttr + x.length : axisAttr);
        for (int k = 1; k < n.getInputCount(); k++) {
            int[] p = n.getInput(k).isEmpty() ? null : g.dimsOf(n.getInput(k));
            if (p == null) {
                continue;
            }
            for (int j = 0; j < p.length; j++) {
                int xa = x.length - p.length + j;
                if (xa >= axis && g.dims.size(p[j]) > 1) {
                    g.dims.union(x[xa], p[j], where);
                }
            }
        }
        g.setOutput(n, 0, x.clone(), where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                int[] stat = x.clone();
                for (int j = axis; j < stat.length; j++) {
                    stat[j] = g.one;
                }
                g.values.put(n.getOutput(k), stat);
            }
        }
    }
}
