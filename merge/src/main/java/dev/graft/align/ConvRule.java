package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;

/**
 * Permutation inference for Conv and ConvTranspose. Conv: kernel {@code [out, in/g, k...]}, input channels
 * unified with the kernel's second axis and output channels with its first and the bias; depthwise (one input
 * channel per group, as many outputs) ties all three. ConvTranspose: kernel {@code [in, out/g, k...]}. Spatial
 * axes never permute; other groupings fix the channels.
 */
final class ConvRule extends OpRule {
    ConvRule() {
        super("Conv", "ConvTranspose");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        boolean transposed = n.getOpType().equals("ConvTranspose");
        int[] x = g.dimsOf(n.getInput(0));
        int[] w = g.dimsOf(n.getInput(1));
        long[] outShape = g.shapeOf(n.getOutput(0));
        if (x == null || w == null || outShape == null || x.length < 3 || w.length != x.length) {
            g.unknown(n, where + " has operands Graft cannot follow");
            return;
        }
        for (int k = 2; k < w.length; k++) {
            g.dims.fix(w[k], where + ": kernel positions do not permute");
        }
        long groups = Attributes.getInt(n, "group", 1);
        int[] out = g.fixedDims(outShape, where + ": spatial axes do not permute");
        if (groups == 1) {
            g.dims.union(x[1], transposed ? w[0] : w[1], where);
            out[1] = transposed ? w[1] : w[0];
        } else if (!transposed && g.dims.size(w[1]) == 1 && g.dims.size(w[0]) == g.dims.size(x[1]) && groups == g.dims.size(x[1])) {
            g.dims.union(x[1], w[0], where);
            out[1] = w[0];
        } else {
            g.dims.fix(x[1], where + ": grouped convolution with " + groups + " groups");
            g.dims.fix(w[0], where + ": grouped convolution with " + groups + " groups");
            g.dims.fix(w[1], where + ": grouped convolution with " + groups + " groups");
            g.setOutput(n, 0, out, where);
            return;
        }
        out[0] = x[0];
        if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            int[] bias = g.dimsOf(n.getInput(2));
            if (bias == null || bias.length != 1) {
                g.unknown(n, where + " has a bias Graft cannot follow");
                return;
            }
            g.dims.union(out[1], bias[0], where);
        }
        g.setOutput(n, 0, out, where);
    }
}
