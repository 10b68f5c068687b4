package dev.graft.graph;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.GraftException;
import dev.graft.onnx.Attributes;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * The geometry of a 2-D ONNX {@code Conv} without groups (kernel, strides, explicit pads, dilations), and the
 * patches it reads ("im2col"): a convolution is the dense map {@code y[n, :, p, q] = W · patch(n, p, q) + b} with
 * {@code W} its weight viewed as {@code [out, in·kh·kw]}, so it can be fitted as a dense layer on patch rows.
 */
public record Patches(int kh, int kw, int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
               int dilationH, int dilationW) {
    /**
     * The geometry of {@code conv} (a node of the model in {@code file}) with a weight of {@code shape}.
     *
     * @throws GraftException naming the file and the weight for a convolution this does not cover: not 2-D,
     *                        grouped, or with automatic padding
     */
    public static Patches of(Path file, NodeProto conv, long[] shape) {
        String refused = refusal(conv, shape);
        if (refused != null) {
            throw new GraftException(file, conv.getInput(1), refused);
        }
        long[] strides = ints(conv, "strides", 2, 1);
        long[] pads = ints(conv, "pads", 4, 0);
        long[] dilations = ints(conv, "dilations", 2, 1);
        return new Patches((int) shape[2], (int) shape[3], (int) strides[0], (int) strides[1], (int) pads[0],
                (int) pads[1], (int) pads[2], (int) pads[3], (int) dilations[0], (int) dilations[1]);
    }

    /** Why {@code conv} with a weight of {@code shape} is not read as patches, or null if it is. */
    public static String refusal(NodeProto conv, long[] shape) {
        if (shape.length != 4) {
            return "is the weight of node '" + conv.getName() + "', a convolution of rank " + shape.length
                    + "; only 2-D convolutions are read as layers";
        }
        if (Attributes.getInt(conv, "group", 1) != 1) {
            return "is the weight of node '" + conv.getName() + "', a grouped convolution; only convolutions "
                    + "without groups are read as layers";
        }
        if (!Attributes.getString(conv, "auto_pad", "NOTSET").equals("NOTSET")) {
            return "is the weight of node '" + conv.getName() + "', a convolution with auto_pad "
                    + Attributes.getString(conv, "auto_pad", "NOTSET") + "; a layer needs explicit pads";
        }
        return null;
    }

    private static long[] ints(NodeProto conv, String name, int count, long otherwise) {
        long[] v = Attributes.getInts(conv, name);
        if (v == null) {
            v = new long[count];
            Arrays.fill(v, otherwise);
        }
        return v;
    }

    /** Kernel positions per input channel. */
    public int size() {
        return kh * kw;
    }

    public int outH(int h) {
        return (h + padTop + padBottom - dilationH * (kh - 1) - 1) / strideH + 1;
    }

    public int outW(int w) {
        return (w + padLeft + padRight - dilationW * (kw - 1) - 1) / strideW + 1;
    }

    /**
     * The patch rows of {@code x} ({@code n × c × h × w}): one row per output position {@code (n, p, q)}, with
     * {@code c·kh·kw} columns ordered as the weight's last three axes; zero where the patch lies in the padding.
     */
    public float[] rows(float[] x, int n, int c, int h, int w) {
        int oh = outH(h);
        int ow = outW(w);
        int cols = c * size();
        float[] out = new float[n * oh * ow * cols];
        for (int s = 0; s < n; s++) {
            for (int p = 0; p < oh; p++) {
                for (int q = 0; q < ow; q++) {
                    int row = ((s * oh + p) * ow + q) * cols;
                    for (int ch = 0; ch < c; ch++) {
                        int plane = (s * c + ch) * h * w;
                        for (int i = 0; i < kh; i++) {
                            int y = p * strideH - padTop + i * dilationH;
                            if (y < 0 || y >= h) {
                                continue;
                            }
                            for (int j = 0; j < kw; j++) {
                                int xx = q * strideW - padLeft + j * dilationW;
                                if (xx >= 0 && xx < w) {
                                    out[row + (ch * kh + i) * kw + j] = x[plane + y * w + xx];
                                }
                            }
                        }
                    }
                }
            }
        }
        return out;
    }
}
