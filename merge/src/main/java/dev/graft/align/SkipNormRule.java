package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.Set;

/**
 * Permutation inference for ONNX Runtime's fused residual norms ({@code com.microsoft}
 * {@code SkipLayerNormalization}, and {@code SkipSimplifiedLayerNormalization}, the RMSNorm that GenAI's builder
 * writes): {@code s = input + skip (+ bias)} normalised over the last axis, scaled (and shifted). Input and skip are
 * unified as broadcast operands; gamma, beta and bias follow the last axis; the output and the sum
 * ({@code input_skip_bias_sum}, output 3) keep the input's axes; the statistics (outputs 1 and 2) drop the last axis.
 */
final class SkipNormRule extends OpRule {
    SkipNormRule() {
        super("com.microsoft", Set.of("SkipLayerNormalization", "SkipSimplifiedLayerNormalization"));
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.firstInput(n, where);
        if (x == null) {
            return;
        }
        for (int k = 1; k < n.getInputCount(); k++) {
            int[] p = n.getInput(k).isEmpty() ? null : g.dimsOf(n.getInput(k));
            if (p == null) {
                continue;
            }
            for (int j = 0; j < p.length && j < x.length; j++) {
                int xa = x.length - p.length + j;
                if (xa >= 0 && g.dims.size(p[j]) > 1) {
                    g.dims.union(x[xa], p[j], where);
                }
            }
        }
        for (int k = 0; k < n.getOutputCount(); k++) {
            if (n.getOutput(k).isEmpty()) {
                continue;
            }
            if (k == 0 || k == 3) {
                g.setOutput(n, k, x.clone(), where);
            } else {
                int[] stat = x.clone();
                stat[stat.length - 1] = g.one;
                g.values.put(n.getOutput(k), stat);
            }
        }
    }
}
