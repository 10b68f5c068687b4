package dev.graft.graph;

import dev.graft.GraftException;
import dev.graft.onnx.Attributes;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An affine layer of a graph, as methods that refit layers (PLeaS) see it. Dense: {@code y = x·W + b} as {@code MatMul}
 * with a weight {@code [in, out]} and an optional bias {@code Add}, or as {@code Gemm} (weight {@code [in, out]}
 * or, with {@code transB}, {@code [out, in]}; bias in its third input; {@code alpha} and {@code beta} 1). Convolution: a 2-D {@code Conv} with a
 * weight {@code [out, in, kh, kw]} and an optional bias, read as a dense map on its input's {@link Patches}.
 * A {@code BatchNormalization} (inference mode) that alone reads the layer's result is part of the layer
 * ({@link Norm}): it is an affine map per output unit, folded into the weight and bias, and the merged graph
 * drops it. {@code input} is the activation the layer reads, {@code output} the value after its bias (and norm);
 * {@code in} and {@code out} are the input and output widths (channels for a convolution). A convolution that
 * {@link Patches} does not cover (not 2-D, grouped, automatic padding) is refused by {@link #find}.
 */
public record AffineLayer(String node, String weight, boolean outIn, String bias, String input, String output, int in, int out,
             Patches patches, Norm norm) {
    /**
     * A {@code BatchNormalization} node folded into its layer: {@code y = scale·(x − mean)/√(var + ε) + bias}
     * per unit. {@code input} is the value it reads (the layer's result before it), {@code output} its result.
     */
    public record Norm(String node, String input, String output, String scale, String bias, String mean, String var, double epsilon) {
        /** The norm's four initializers: scale, shift, mean, variance. */
        public List<String> parameters() {
            return List.of(scale, bias, mean, var);
        }
    }

    /** The name of the merged layer's bias: its own, else its norm's, else null (the layer has none). */
    public String biasName() {
        return bias != null ? bias : norm != null ? norm.bias() : null;
    }

    /** Whether the layer computes with a bias (its own or its norm's). */
    public boolean hasBias() {
        return biasName() != null;
    }

    /** The weight with the norm folded in, in the weight's layout. */
    public float[] weights(OnnxModel m) {
        float[] w = m.weight(weight).orElseThrow().toFloats();
        if (norm != null) {
            double[] g = gains(m);
            for (int k = 0; k < w.length; k++) {
                w[k] *= (float) g[outIn ? k / (w.length / out) : k % out];
            }
        }
        return w;
    }

    /** The bias with the norm folded in; zeros if the layer has none. */
    public float[] biases(OnnxModel m) {
        float[] b = bias == null ? new float[out] : m.weight(bias).orElseThrow().toFloats();
        if (norm != null) {
            double[] g = gains(m);
            float[] mean = m.weight(norm.mean()).orElseThrow().toFloats();
            float[] shift = m.weight(norm.bias()).orElseThrow().toFloats();
            for (int i = 0; i < out; i++) {
                b[i] = (float) ((b[i] - mean[i]) * g[i] + shift[i]);
            }
        }
        return b;
    }

    /** {@code scale/√(var + ε)} per unit. */
    private double[] gains(OnnxModel m) {
        float[] scale = m.weight(norm.scale()).orElseThrow().toFloats();
        float[] var = m.weight(norm.var()).orElseThrow().toFloats();
        double[] g = new double[out];
        for (int i = 0; i < out; i++) {
            g[i] = scale[i] / Math.sqrt(var[i] + norm.epsilon());
        }
        return g;
    }

    /** Columns of one input row: {@code in}, or {@code in·kh·kw} for a convolution. */
    public int features() {
        return patches == null ? in : in * patches.size();
    }

    /** The weight axis that reads the input. */
    public int inAxis() {
        return outIn ? 1 : 0;
    }

    /** The weight's shape for widths {@code in} and {@code out}. */
    public long[] shape(int inWidth, int outWidth) {
        if (patches != null) {
            return new long[] {outWidth, inWidth, patches.kh(), patches.kw()};
        }
        return outIn ? new long[] {outWidth, inWidth} : new long[] {inWidth, outWidth};
    }

    /**
     * The layers of {@code model} in graph order: nodes whose weight is an initializer of a shape they take.
     *
     * @throws GraftException naming the model and weight for a convolution {@link Patches} does not cover
     */
    public static List<AffineLayer> find(OnnxModel model) {
        return find(model, true);
    }

    /**
     * The layers of {@code model} in graph order, leaving out the convolutions {@link Patches} does not cover
     * (methods that regress what they can and merge the rest otherwise, such as RegMean).
     */
    public static List<AffineLayer> findCovered(OnnxModel model) {
        return find(model, false);
    }

    private static List<AffineLayer> find(OnnxModel model, boolean strict) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            for (String in : n.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        List<AffineLayer> out = new ArrayList<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            String op = n.getOpType();
            if (!n.getDomain().isEmpty() || n.getInputCount() < 2 || model.weight(n.getInput(0)).isPresent()) {
                continue;
            }
            var weight = model.weight(n.getInput(1));
            if (weight.isEmpty() || weight.get().origin() != Weight.Origin.INITIALIZER) {
                continue;
            }
            long[] shape = weight.get().shape();
            if (op.equals("Conv")) {
                if (!strict && Patches.refusal(n, shape) != null) {
                    continue;
                }
                String bias = n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? n.getInput(2) : null;
                Norm norm = norm(model, consumers, n.getOutput(0), (int) shape[0]);
                out.add(new AffineLayer(n.getName(), n.getInput(1), true, bias, n.getInput(0),
                        norm == null ? n.getOutput(0) : norm.output(), (int) shape[1], (int) shape[0],
                        Patches.of(model.file(), n, shape), norm));
                continue;
            }
            boolean gemm = op.equals("Gemm");
            if (!(gemm || op.equals("MatMul")) || shape.length != 2 || gemm && (Attributes.getInt(n, "transA", 0) == 1
                    || Attributes.getFloat(n, "alpha", 1) != 1 || Attributes.getFloat(n, "beta", 1) != 1)) {
                continue;
            }
            boolean outIn = gemm && Attributes.getInt(n, "transB", 0) == 1;
            String bias = gemm && n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? n.getInput(2) : null;
            String output = n.getOutput(0);
            List<NodeProto> next = consumers.getOrDefault(output, List.of());
            if (bias == null && next.size() == 1 && next.get(0).getOpType().equals("Add")) {
                NodeProto add = next.get(0);
                String other = add.getInput(0).equals(output) ? add.getInput(1) : add.getInput(0);
                var b = model.weight(other);
                if (b.isPresent() && b.get().shape().length == 1) {
                    bias = other;
                    output = add.getOutput(0);
                }
            }
            int width = (int) (outIn ? shape[0] : shape[1]);
            // a MatMul without a bias Add has nowhere to put a folded norm's shift, so its norm stays a node
            Norm norm = gemm || bias != null ? norm(model, consumers, output, width) : null;
            out.add(new AffineLayer(n.getName(), n.getInput(1), outIn, bias, n.getInput(0),
                    norm == null ? output : norm.output(), (int) (outIn ? shape[1] : shape[0]), width,
                    null, norm));
        }
        return out;
    }

    /** The inference-mode BatchNormalization with initializer parameters that alone reads {@code value}, or null. */
    private static Norm norm(OnnxModel model, Map<String, List<NodeProto>> consumers, String value, int width) {
        List<NodeProto> next = consumers.getOrDefault(value, List.of());
        if (next.size() != 1 || !next.get(0).getOpType().equals("BatchNormalization")
                || !next.get(0).getDomain().isEmpty() || next.get(0).getOutputCount() != 1
                || Attributes.getInt(next.get(0), "training_mode", 0) != 0 || !next.get(0).getInput(0).equals(value)) {
            return null;
        }
        NodeProto bn = next.get(0);
        for (int k = 1; k < 5; k++) {
            var p = model.weight(bn.getInput(k));
            if (p.isEmpty() || p.get().origin() != Weight.Origin.INITIALIZER || p.get().shape().length != 1
                    || p.get().shape()[0] != width) {
                return null;
            }
        }
        double epsilon = Attributes.getFloat(bn, "epsilon", 1e-5f);
        return new Norm(bn.getName(), value, bn.getOutput(0), bn.getInput(1), bn.getInput(2), bn.getInput(3),
                bn.getInput(4), epsilon);
    }
}
