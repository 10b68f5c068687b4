package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.ArrayList;
import java.util.List;

/**
 * Permutation inference for broadcast ops: element-wise with numpy broadcasting: axes aligned from the right, sizes
 * above 1 unified.
 */
final class BroadcastRule extends OpRule {
    BroadcastRule() {
        super("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean",
            "Sum", "Where", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Mod",
            "PRelu");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        long[] outShape = g.shapeOf(n.getOutput(0));
        List<int[]> ins = new ArrayList<>();
        for (String in : n.getInputList()) {
            int[] d = in.isEmpty() ? null : g.dimsOf(in);
            if (d == null) {
                g.unknown(n, where + " has an input of unknown shape");
                return;
            }
            ins.add(d);
        }
        if (outShape == null) {
            g.unknown(n, where + " has an output of unknown shape");
            return;
        }
        int rank = outShape.length;
        int[] out = new int[rank];
        for (int k = 0; k < rank; k++) {
            int joined = -1;
            for (int[] d : ins) {
                int axis = d.length - (rank - k);
                if (axis >= 0 && g.dims.size(d[axis]) > 1) {
                    if (joined < 0) {
                        joined = d[axis];
                    } else {
                        g.dims.union(joined, d[axis], where);
                    }
                }
            }
            out[k] = joined >= 0 ? joined : outShape[k] == 1 ? g.one : g.dims.fixed(outShape[k], where);
        }
        g.setOutput(n, 0, out, where);
    }
}
