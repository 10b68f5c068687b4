package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;

/**
 * Permutation inference for Gather: the gathered axis and the indices are fixed; the rest pass (an embedding hands
 * the table's second axis on).
 */
final class GatherRule extends OpRule {
    GatherRule() {
        super("Gather");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] data = g.dimsOf(n.getInput(0));
        int[] indices = g.dimsOf(n.getInput(1));
        if (data == null || indices == null) {
            g.unknown(n, where + " has a value of unknown shape");
            return;
        }
        long a = Attributes.getInt(n, "axis", 0);
        int axis = (int) (a < 0 ? a + data.length : a);
        g.dims.fix(data[axis], where + ": gathers along this axis");
        int[] out = new int[data.length - 1 + indices.length];
        int k = 0;
        for (int j = 0; j < axis; j++) {
            out[k++] = data[j];
        }
        for (int idx : indices) {
            g.dims.fix(idx, where + ": indices");
            out[k++] = idx;
        }
        for (int j = axis + 1; j < data.length; j++) {
            out[k++] = data[j];
        }
        g.setOutput(n, 0, out, where);
    }
}
