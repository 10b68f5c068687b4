package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Permutation inference for Reshape, Flatten, Squeeze and Unsqueeze, by the concrete shapes: axes of size 1
 * aside, the input and output axes are cut into runs of equal size products; a run of one axis to one passes,
 * one to several splits the axis (heads × head dimension), several to one merges them, and anything else fixes
 * the run.
 */
final class ReshapeRule extends OpRule {
    ReshapeRule() {
        super("Reshape", "Flatten", "Squeeze", "Unsqueeze");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.dimsOf(n.getInput(0));
        long[] inShape = g.shapeOf(n.getInput(0));
        long[] outShape = g.shapeOf(n.getOutput(0));
        if (x == null || inShape == null || outShape == null) {
            g.unknown(n, where + " has a value of unknown shape");
            return;
        }
        int[] out = new int[outShape.length];
        Arrays.fill(out, g.one);
        int i = 0;
        int o = 0;
        while (true) {
            while (i < inShape.length && inShape[i] == 1) {
                i++;
            }
            while (o < outShape.length && outShape[o] == 1) {
                o++;
            }
            if (i == inShape.length || o == outShape.length) {
                break;
            }
            int i0 = i;
            int o0 = o;
            long pin = inShape[i++];
            long pout = outShape[o++];
            while (pin != pout) {
                if (pin < pout) {
                    if (i == inShape.length) {
                        break;
                    }
                    pin *= inShape[i++];
                } else {
                    if (o == outShape.length) {
                        break;
                    }
                    pout *= outShape[o++];
                }
            }
            if (pin != pout) {
                g.unknown(n, where + ": shapes " + Arrays.toString(inShape) + " and " + Arrays.toString(outShape)
                        + " do not match");
                return;
            }
            int[] inRun = nonUnit(x, inShape, i0, i);
            long[] outSizes = nonUnitSizes(outShape, o0, o);
            int[] outIdx = nonUnitIndexes(outShape, o0, o);
            if (inRun.length == 1) {
                int[] parts = g.dims.split(inRun[0], outSizes, where);
                for (int k = 0; k < parts.length; k++) {
                    out[outIdx[k]] = parts[k];
                }
            } else if (outIdx.length == 1) {
                out[outIdx[0]] = g.dims.product(inRun);
            } else {
                for (int d : inRun) {
                    g.dims.fix(d, where + ": regroups axes " + Arrays.toString(inShape) + " into "
                            + Arrays.toString(outShape));
                }
                for (int k = 0; k < outIdx.length; k++) {
                    out[outIdx[k]] = g.dims.fixed(outSizes[k], where);
                }
            }
        }
        for (; i < inShape.length; i++) {
            if (inShape[i] != 1) {
                g.unknown(n, where + ": shapes do not match");
                return;
            }
        }
        g.setOutput(n, 0, out, where);
    }

    private static int[] nonUnit(int[] d, long[] shape, int from, int to) {
        return Arrays.stream(nonUnitIndexes(shape, from, to)).map(k -> d[k]).toArray();
    }

    private static int[] nonUnitIndexes(long[] shape, int from, int to) {
        List<Integer> out = new ArrayList<>();
        for (int k = from; k < to; k++) {
            if (shape[k] != 1) {
                out.add(k);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    private static long[] nonUnitSizes(long[] shape, int from, int to) {
        return Arrays.stream(nonUnitIndexes(shape, from, to)).mapToLong(k -> shape[k]).toArray();
    }
}
