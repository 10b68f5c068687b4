package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Permutation inference for reduce ops: reduced axes become size 1 (or go); the rest pass. */
final class ReduceRule extends OpRule {
    ReduceRule() {
        super("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
            "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.dimsOf(n.getInput(0));
        long[] outShape = g.shapeOf(n.getOutput(0));
        if (x == null || outShape == null) {
            g.unknown(n, where + " has a value of unknown shape");
            return;
        }
        long[] axes = Attributes.getInts(n, "axes");
        if (axes == null && n.getInputCount() > 1 && !n.getInput(1).isEmpty()) {
            axes = g.constantInts(n.getInput(1));
            if (axes == null) {
                g.unknown(n, where + " reduces axes that are not a constant");
                return;
            }
        }
        boolean keep = Attributes.getInt(n, "keepdims", 1) == 1;
        boolean[] reduced = new boolean[x.length];
        if (axes == null || axes.length == 0) {
            Arrays.fill(reduced, Attributes.getInt(n, "noop_with_empty_axes", 0) == 0);
        } else {
            for (long a : axes) {
                reduced[(int) (a < 0 ? a + x.length : a)] = true;
            }
        }
        List<Integer> out = new ArrayList<>();
        for (int k = 0; k < x.length; k++) {
            if (!reduced[k]) {
                out.add(x[k]);
            } else if (keep) {
                out.add(g.one);
            }
        }
        g.setOutput(n, 0, out.stream().mapToInt(Integer::intValue).toArray(), where);
    }
}
