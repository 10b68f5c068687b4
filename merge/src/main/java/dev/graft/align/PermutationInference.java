package dev.graft.align;

import dev.graft.onnx.Attributes;
import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.verify.Verifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds a model's {@link PermutationSpec} by following every value's axes through the main graph, op by op, in
 * the graph's (topological) order. Each axis is a {@link Dims} variable; ops state which axes must be permuted
 * alike: element-wise ops and residual {@code Add} unify broadcast-aligned axes, {@code MatMul}/{@code Gemm} unify
 * the contracted axes (a weight's input axis with the activation's, or the two sides of {@code Q·Kᵀ}),
 * {@code Conv} ties input channels to the kernel's and output channels to its bias, normalisations tie their
 * scale and shift to the normalised axis, reductions drop the reduced axes, and {@code Reshape},
 * {@code Flatten}, {@code Squeeze} and {@code Unsqueeze} split or merge axes as the concrete shapes (from one
 * probe run in ONNX Runtime) show. Graph inputs and outputs, constants, and every op not listed here fix the
 * axes they touch, recording the node. Ops in other domains and subgraphs are not followed (their axes are
 * fixed).
 */
public final class PermutationInference {
    private static final Set<String> UNARY = Set.of("Identity", "Cast", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
            "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Softplus", "Softsign", "Elu", "Selu", "Gelu",
            "HardSigmoid", "HardSwish", "Mish", "Celu", "ThresholdedRelu", "Shrink", "Floor", "Ceil", "Round",
            "Sin", "Cos", "Sign", "Not", "IsNaN", "IsInf", "Dropout", "Clip", "Softmax", "LogSoftmax", "Hardmax");
    private static final Set<String> BROADCAST = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean",
            "Sum", "Where", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor", "Mod",
            "PRelu");
    private static final Set<String> REDUCE = Set.of("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
            "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
    private static final Set<String> RESHAPE = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze");
    private static final Set<String> SHAPE_ONLY = Set.of("Shape", "Size");
    private static final Set<String> POOL = Set.of("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
            "GlobalMaxPool", "GlobalLpPool");

    private final OnnxModel model;
    private final Map<String, Verifier.ValueShape> shapes;
    private final Dims dims = new Dims();
    private final Map<String, int[]> values = new HashMap<>();
    private final Map<String, int[]> weights = new LinkedHashMap<>();
    private final Map<String, Weight> initializers = new HashMap<>();
    private int one;

    private PermutationInference(OnnxModel model, Map<String, Verifier.ValueShape> shapes) {
        this.model = model;
        this.shapes = shapes;
    }

    /**
     * Infers the spec of {@code model}, whose values have the given concrete {@code shapes} (see
     * {@link Verifier#valueShapes}).
     *
     * @param permuteOutputs let groups reach graph outputs: aligning a model then reorders its output
     *                       coordinates too (right when it is aligned in order to merge, wrong when it must keep
     *                       its interface)
     */
    public static PermutationSpec infer(OnnxModel model, Map<String, Verifier.ValueShape> shapes,
                                        boolean permuteOutputs) {
        return new PermutationInference(model, shapes).run(permuteOutputs);
    }

    private PermutationSpec run(boolean permuteOutputs) {
        GraphProto graph = model.proto().getGraph();
        one = dims.fixed(1, "size 1");
        for (Weight w : model.initializers()) {
            initializers.put(w.name(), w);
        }
        for (ValueInfoProto in : graph.getInputList()) {
            if (!initializers.containsKey(in.getName())) {
                values.put(in.getName(), fixedDims(shapeOf(in.getName()), "graph input '" + in.getName() + "'"));
            }
        }
        for (NodeProto node : graph.getNodeList()) {
            visit(node);
        }
        for (ValueInfoProto out : graph.getOutputList()) {
            int[] d = dimsOf(out.getName());
            if (d != null && !permuteOutputs) {
                for (int x : d) {
                    dims.fix(x, "reaches graph output '" + out.getName() + "'");
                }
            }
        }
        return spec();
    }

    // ---- ops ------------------------------------------------------------------------------------------------

    private void visit(NodeProto n) {
        String op = n.getOpType();
        String where = "node '" + label(n) + "' (" + op + ")";
        if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
            unknown(n, where + " is in domain '" + n.getDomain() + "'");
            return;
        }
        if (op.equals("Constant")) {
            constant(n);
            return;
        }
        if (SHAPE_ONLY.contains(op)) {
            outputsFixed(n, where);
            return;
        }
        if (UNARY.contains(op)) {
            int[] x = dimsOf(n.getInput(0));
            if (x == null) {
                unknown(n, where + " has an input of unknown shape");
                return;
            }
            setOutput(n, 0, x.clone(), where);
            for (int k = 1; k < n.getOutputCount(); k++) {
                setOutput(n, k, fixedDims(shapeOf(n.getOutput(k)), where), where); // e.g. Dropout's mask
            }
            return;
        }
        if (BROADCAST.contains(op)) {
            broadcast(n, where);
            return;
        }
        if (REDUCE.contains(op)) {
            reduce(n, where);
            return;
        }
        if (RESHAPE.contains(op)) {
            reshape(n, where);
            return;
        }
        if (POOL.contains(op)) {
            pool(n, where);
            return;
        }
        switch (op) {
            case "MatMul" -> matMul(n, where);
            case "Gemm" -> gemm(n, where);
            case "Conv" -> conv(n, where, false);
            case "ConvTranspose" -> conv(n, where, true);
            case "BatchNormalization", "InstanceNormalization" -> channelNorm(n, where);
            case "LayerNormalization" -> layerNorm(n, where);
            case "Transpose" -> transpose(n, where);
            case "Gather" -> gather(n, where);
            default -> unknown(n, where + " is not an op Graft can follow");
        }
    }

    /** An op whose effect on channels Graft does not know: every axis it touches stays fixed. */
    private void unknown(NodeProto n, String reason) {
        for (String in : n.getInputList()) {
            int[] d = in.isEmpty() ? null : dimsOf(in);
            if (d != null) {
                for (int x : d) {
                    dims.fix(x, reason);
                }
            }
        }
        outputsFixed(n, reason);
    }

    private void outputsFixed(NodeProto n, String reason) {
        for (int k = 0; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                values.put(n.getOutput(k), fixedDims(shapeOf(n.getOutput(k)), reason));
            }
        }
    }

    /** Constants are never permuted: a non-scalar constant fixes whatever it meets. */
    private void constant(NodeProto n) {
        long[] shape = shapeOf(n.getOutput(0));
        if (shape == null) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.getName().equals("value")) {
                    shape = a.getT().getDimsList().stream().mapToLong(Long::longValue).toArray();
                }
            }
        }
        values.put(n.getOutput(0), fixedDims(shape, "constant '" + n.getOutput(0) + "'"));
    }

    /** Element-wise with numpy broadcasting: axes aligned from the right, sizes above 1 unified. */
    private void broadcast(NodeProto n, String where) {
        long[] outShape = shapeOf(n.getOutput(0));
        List<int[]> ins = new ArrayList<>();
        for (String in : n.getInputList()) {
            int[] d = in.isEmpty() ? null : dimsOf(in);
            if (d == null) {
                unknown(n, where + " has an input of unknown shape");
                return;
            }
            ins.add(d);
        }
        if (outShape == null) {
            unknown(n, where + " has an output of unknown shape");
            return;
        }
        int rank = outShape.length;
        int[] out = new int[rank];
        for (int k = 0; k < rank; k++) {
            int joined = -1;
            for (int[] d : ins) {
                int axis = d.length - (rank - k);
                if (axis >= 0 && dims.size(d[axis]) > 1) {
                    if (joined < 0) {
                        joined = d[axis];
                    } else {
                        dims.union(joined, d[axis], where);
                    }
                }
            }
            out[k] = joined >= 0 ? joined : outShape[k] == 1 ? one : dims.fixed(outShape[k], where);
        }
        setOutput(n, 0, out, where);
    }

    /** {@code A[..., m, k] · B[..., k, n]}: contracted axes unified, batch axes broadcast. */
    private void matMul(NodeProto n, String where) {
        int[] a = dimsOf(n.getInput(0));
        int[] b = dimsOf(n.getInput(1));
        long[] outShape = shapeOf(n.getOutput(0));
        if (a == null || b == null || outShape == null || a.length < 2 || b.length < 2) {
            unknown(n, where + " has operands Graft cannot follow (unknown or 1-D)");
            return;
        }
        dims.union(a[a.length - 1], b[b.length - 2], where);
        int rank = outShape.length;
        int[] out = new int[rank];
        out[rank - 2] = a[a.length - 2];
        out[rank - 1] = b[b.length - 1];
        for (int k = 0; k < rank - 2; k++) {
            int ia = a.length - (rank - k);
            int ib = b.length - (rank - k);
            int da = ia >= 0 && dims.size(a[ia]) > 1 ? a[ia] : -1;
            int db = ib >= 0 && dims.size(b[ib]) > 1 ? b[ib] : -1;
            if (da >= 0 && db >= 0) {
                dims.union(da, db, where);
            }
            out[k] = da >= 0 ? da : db >= 0 ? db : one;
        }
        setOutput(n, 0, out, where);
    }

    /** {@code Gemm(A, B, C)} with {@code transA}/{@code transB}: like MatMul on 2-D operands, C broadcast. */
    private void gemm(NodeProto n, String where) {
        int[] a = dimsOf(n.getInput(0));
        int[] b = dimsOf(n.getInput(1));
        if (a == null || b == null || a.length != 2 || b.length != 2) {
            unknown(n, where + " has operands Graft cannot follow");
            return;
        }
        boolean ta = Attributes.getInt(n, "transA", 0) == 1;
        boolean tb = Attributes.getInt(n, "transB", 0) == 1;
        int m = ta ? a[1] : a[0];
        int ka = ta ? a[0] : a[1];
        int kb = tb ? b[1] : b[0];
        int nn = tb ? b[0] : b[1];
        dims.union(ka, kb, where);
        int[] out = {m, nn};
        if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            int[] c = dimsOf(n.getInput(2));
            if (c == null) {
                unknown(n, where + " has a bias of unknown shape");
                return;
            }
            for (int k = 0; k < c.length; k++) {
                int axis = 2 - c.length + k;
                if (dims.size(c[k]) > 1) {
                    dims.union(out[axis], c[k], where);
                }
            }
        }
        setOutput(n, 0, out, where);
    }

    /**
     * Conv: kernel {@code [out, in/g, k...]}, input channels unified with the kernel's second axis and output
     * channels with its first and the bias; depthwise (one input channel per group, as many outputs) ties all
     * three. ConvTranspose: kernel {@code [in, out/g, k...]}. Spatial axes never permute; other groupings fix
     * the channels.
     */
    private void conv(NodeProto n, String where, boolean transposed) {
        int[] x = dimsOf(n.getInput(0));
        int[] w = dimsOf(n.getInput(1));
        long[] outShape = shapeOf(n.getOutput(0));
        if (x == null || w == null || outShape == null || x.length < 3 || w.length != x.length) {
            unknown(n, where + " has operands Graft cannot follow");
            return;
        }
        for (int k = 2; k < w.length; k++) {
            dims.fix(w[k], where + ": kernel positions do not permute");
        }
        long groups = Attributes.getInt(n, "group", 1);
        int[] out = fixedDims(outShape, where + ": spatial axes do not permute");
        if (groups == 1) {
            dims.union(x[1], transposed ? w[0] : w[1], where);
            out[1] = transposed ? w[1] : w[0];
        } else if (!transposed && dims.size(w[1]) == 1 && dims.size(w[0]) == dims.size(x[1]) && groups == dims.size(x[1])) {
            dims.union(x[1], w[0], where);
            out[1] = w[0];
        } else {
            dims.fix(x[1], where + ": grouped convolution with " + groups + " groups");
            dims.fix(w[0], where + ": grouped convolution with " + groups + " groups");
            dims.fix(w[1], where + ": grouped convolution with " + groups + " groups");
            setOutput(n, 0, out, where);
            return;
        }
        out[0] = x[0];
        if (n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
            int[] bias = dimsOf(n.getInput(2));
            if (bias == null || bias.length != 1) {
                unknown(n, where + " has a bias Graft cannot follow");
                return;
            }
            dims.union(out[1], bias[0], where);
        }
        setOutput(n, 0, out, where);
    }

    /** BatchNormalization, InstanceNormalization: per-channel parameters follow channel axis 1. */
    private void channelNorm(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        if (x == null || x.length < 2) {
            unknown(n, where + " has an input Graft cannot follow");
            return;
        }
        for (int k = 1; k < n.getInputCount(); k++) {
            int[] p = n.getInput(k).isEmpty() ? null : dimsOf(n.getInput(k));
            if (p == null || p.length != 1) {
                unknown(n, where + " has parameters Graft cannot follow");
                return;
            }
            dims.union(x[1], p[0], where);
        }
        setOutput(n, 0, x.clone(), where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                values.put(n.getOutput(k), fixedDims(shapeOf(n.getOutput(k)), where)); // running statistics
            }
        }
    }

    /** LayerNormalization over the axes from {@code axis} on: scale and shift follow them; mean and 1/σ drop them. */
    private void layerNorm(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        if (x == null) {
            unknown(n, where + " has an input of unknown shape");
            return;
        }
        long axisAttr = Attributes.getInt(n, "axis", -1);
        int axis = (int) (axisAttr < 0 ? axisAttr + x.length : axisAttr);
        for (int k = 1; k < n.getInputCount(); k++) {
            int[] p = n.getInput(k).isEmpty() ? null : dimsOf(n.getInput(k));
            if (p == null) {
                continue;
            }
            for (int j = 0; j < p.length; j++) {
                int xa = x.length - p.length + j;
                if (xa >= axis && dims.size(p[j]) > 1) {
                    dims.union(x[xa], p[j], where);
                }
            }
        }
        setOutput(n, 0, x.clone(), where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                int[] stat = x.clone();
                for (int j = axis; j < stat.length; j++) {
                    stat[j] = one;
                }
                values.put(n.getOutput(k), stat);
            }
        }
    }

    /** Reductions are invariant to permuting the reduced axes: those become size 1 (or go); the rest pass. */
    private void reduce(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        long[] outShape = shapeOf(n.getOutput(0));
        if (x == null || outShape == null) {
            unknown(n, where + " has a value of unknown shape");
            return;
        }
        long[] axes = Attributes.getInts(n, "axes");
        if (axes == null && n.getInputCount() > 1 && !n.getInput(1).isEmpty()) {
            axes = constantInts(n.getInput(1));
            if (axes == null) {
                unknown(n, where + " reduces axes that are not a constant");
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
                out.add(one);
            }
        }
        setOutput(n, 0, out.stream().mapToInt(Integer::intValue).toArray(), where);
    }

    /** Pooling keeps batch and channel axes; spatial axes are new and fixed. */
    private void pool(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        long[] outShape = shapeOf(n.getOutput(0));
        if (x == null || outShape == null || x.length < 2) {
            unknown(n, where + " has a value of unknown shape");
            return;
        }
        int[] out = fixedDims(outShape, where + ": spatial axes do not permute");
        out[0] = x[0];
        out[1] = x[1];
        setOutput(n, 0, out, where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                values.put(n.getOutput(k), fixedDims(shapeOf(n.getOutput(k)), where)); // MaxPool indices
            }
        }
    }

    private void transpose(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        if (x == null) {
            unknown(n, where + " has an input of unknown shape");
            return;
        }
        long[] perm = Attributes.getInts(n, "perm");
        int[] out = new int[x.length];
        for (int k = 0; k < x.length; k++) {
            out[k] = x[perm == null ? x.length - 1 - k : (int) perm[k]];
        }
        setOutput(n, 0, out, where);
    }

    /**
     * Gather along {@code axis}: the gathered axis is fixed (indices pick positions), the indices' axes are
     * fixed, the rest pass; an embedding lookup thus hands the table's second axis to the output.
     */
    private void gather(NodeProto n, String where) {
        int[] data = dimsOf(n.getInput(0));
        int[] indices = dimsOf(n.getInput(1));
        if (data == null || indices == null) {
            unknown(n, where + " has a value of unknown shape");
            return;
        }
        long a = Attributes.getInt(n, "axis", 0);
        int axis = (int) (a < 0 ? a + data.length : a);
        dims.fix(data[axis], where + ": gathers along this axis");
        int[] out = new int[data.length - 1 + indices.length];
        int k = 0;
        for (int j = 0; j < axis; j++) {
            out[k++] = data[j];
        }
        for (int idx : indices) {
            dims.fix(idx, where + ": indices");
            out[k++] = idx;
        }
        for (int j = axis + 1; j < data.length; j++) {
            out[k++] = data[j];
        }
        setOutput(n, 0, out, where);
    }

    /**
     * Reshape, Flatten, Squeeze, Unsqueeze, by the concrete shapes: axes of size 1 aside, the input and output
     * axes are cut into runs of equal size products; a run of one axis to one passes, one to several splits
     * the axis (heads × head dimension), several to one merges them, and anything else fixes the run.
     */
    private void reshape(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        long[] inShape = shapeOf(n.getInput(0));
        long[] outShape = shapeOf(n.getOutput(0));
        if (x == null || inShape == null || outShape == null) {
            unknown(n, where + " has a value of unknown shape");
            return;
        }
        int[] out = new int[outShape.length];
        Arrays.fill(out, one);
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
                unknown(n, where + ": shapes " + Arrays.toString(inShape) + " and " + Arrays.toString(outShape)
                        + " do not match");
                return;
            }
            int[] inRun = nonUnit(x, inShape, i0, i);
            long[] outSizes = nonUnitSizes(outShape, o0, o);
            int[] outIdx = nonUnitIndexes(outShape, o0, o);
            if (inRun.length == 1) {
                int[] parts = dims.split(inRun[0], outSizes, where);
                for (int k = 0; k < parts.length; k++) {
                    out[outIdx[k]] = parts[k];
                }
            } else if (outIdx.length == 1) {
                out[outIdx[0]] = dims.product(inRun);
            } else {
                for (int d : inRun) {
                    dims.fix(d, where + ": regroups axes " + Arrays.toString(inShape) + " into "
                            + Arrays.toString(outShape));
                }
                for (int k = 0; k < outIdx.length; k++) {
                    out[outIdx[k]] = dims.fixed(outSizes[k], where);
                }
            }
        }
        for (; i < inShape.length; i++) {
            if (inShape[i] != 1) {
                unknown(n, where + ": shapes do not match");
                return;
            }
        }
        setOutput(n, 0, out, where);
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

    // ---- values -----------------------------------------------------------------------------------------------

    /** The dims of a value: computed, a graph input, or a weight (one free variable per axis, made on first use). */
    private int[] dimsOf(String name) {
        int[] d = values.get(name);
        if (d != null) {
            return d;
        }
        Weight w = initializers.get(name);
        if (w == null) {
            return null;
        }
        int[] made = new int[w.shape().length];
        for (int k = 0; k < made.length; k++) {
            long size = w.shape()[k];
            made[k] = size == 1 ? one : w.type().isFloatingPoint() ? dims.free(size)
                    : dims.fixed(size, "integer weight '" + name + "'");
        }
        values.put(name, made);
        weights.put(name, made);
        return made;
    }

    private void setOutput(NodeProto n, int k, int[] d, String where) {
        if (k >= n.getOutputCount() || n.getOutput(k).isEmpty()) {
            return;
        }
        long[] shape = shapeOf(n.getOutput(k));
        if (shape != null) {
            boolean consistent = shape.length == d.length;
            for (int j = 0; consistent && j < d.length; j++) {
                consistent = dims.size(d[j]) == shape[j] || (shape[j] == 1 && dims.size(d[j]) == 1);
            }
            if (!consistent) {
                for (int x : d) {
                    dims.fix(x, where + ": Graft's view of the shapes disagrees with ONNX Runtime's");
                }
                d = fixedDims(shape, where);
            }
        }
        values.put(n.getOutput(k), d);
    }

    private long[] shapeOf(String name) {
        Verifier.ValueShape s = shapes.get(name);
        if (s != null) {
            return s.shape();
        }
        Weight w = initializers.get(name);
        return w == null ? null : w.shape();
    }

    private int[] fixedDims(long[] shape, String reason) {
        if (shape == null) {
            return null;
        }
        int[] out = new int[shape.length];
        for (int k = 0; k < shape.length; k++) {
            out[k] = shape[k] == 1 ? one : dims.fixed(shape[k], reason);
        }
        return out;
    }

    private long[] constantInts(String name) {
        Weight w = initializers.get(name);
        if (w != null && !w.type().isFloatingPoint()) {
            java.nio.ByteBuffer b = w.bytes();
            long[] out = new long[(int) w.elementCount()];
            for (int k = 0; k < out.length; k++) {
                out[k] = w.byteLength() == 8L * out.length ? b.getLong(8 * k) : b.getInt(4 * k);
            }
            return out;
        }
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            if (n.getOpType().equals("Constant") && n.getOutputCount() == 1 && n.getOutput(0).equals(name)) {
                for (AttributeProto a : n.getAttributeList()) {
                    if (a.getName().equals("value") && a.getT().getDataType() == TensorProto.DataType.INT64_VALUE) {
                        TensorProto t = a.getT();
                        if (t.getInt64DataCount() > 0) {
                            return t.getInt64DataList().stream().mapToLong(Long::longValue).toArray();
                        }
                        java.nio.ByteBuffer b = t.getRawData().asReadOnlyByteBuffer().order(java.nio.ByteOrder.LITTLE_ENDIAN);
                        long[] out = new long[b.remaining() / 8];
                        for (int k = 0; k < out.length; k++) {
                            out[k] = b.getLong(8 * k);
                        }
                        return out;
                    }
                    if (a.getName().equals("value_ints")) {
                        return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
                    }
                }
            }
        }
        return null;
    }

    private static String label(NodeProto n) {
        return n.getName().isEmpty() ? n.getOutput(0) : n.getName();
    }

    // ---- result -----------------------------------------------------------------------------------------------

    private PermutationSpec spec() {
        Map<Integer, Integer> groupOfRoot = new LinkedHashMap<>();
        Map<Integer, List<PermutationSpec.Member>> members = new LinkedHashMap<>();
        List<PermutationSpec.PermutedAxis> axes = new ArrayList<>();
        List<PermutationSpec.FixedAxis> fixed = new ArrayList<>();
        for (Weight w : model.initializers()) {
            int[] d = weights.get(w.name());
            if (d == null) {
                continue;
            }
            for (int axis = 0; axis < d.length; axis++) {
                if (dims.size(d[axis]) <= 1) {
                    continue;
                }
                List<Integer> leaves = dims.leaves(d[axis]);
                List<PermutationSpec.Factor> factors = new ArrayList<>();
                boolean any = false;
                for (int k = 0; k < leaves.size(); k++) {
                    int leaf = leaves.get(k);
                    int size = (int) dims.size(leaf);
                    if (dims.isFixed(leaf) || size <= 1) {
                        factors.add(new PermutationSpec.Factor(-1, size));
                        continue;
                    }
                    any = true;
                    int g = groupOfRoot.computeIfAbsent(leaf, x -> groupOfRoot.size());
                    members.computeIfAbsent(g, x -> new ArrayList<>())
                            .add(new PermutationSpec.Member(w.name(), axis, k, leaves.size()));
                    factors.add(new PermutationSpec.Factor(g, size));
                }
                if (any) {
                    axes.add(new PermutationSpec.PermutedAxis(w.name(), axis, factors));
                } else {
                    fixed.add(new PermutationSpec.FixedAxis(w.name(), axis, dims.size(d[axis]), reasonOf(leaves)));
                }
            }
        }
        Map<Integer, Integer> parents = nesting(groupOfRoot.keySet());
        List<PermutationSpec.Group> groups = new ArrayList<>();
        Map<String, Integer> taken = new HashMap<>();
        GraphIndex index = GraphIndex.of(model);
        for (Map.Entry<Integer, Integer> e : groupOfRoot.entrySet()) {
            List<PermutationSpec.Member> m = members.get(e.getValue());
            String base = commonModule(m, index) + "/" + dims.size(e.getKey());
            int seen = taken.merge(base, 1, Integer::sum);
            Integer parent = parents.get(e.getKey());
            groups.add(new PermutationSpec.Group(seen == 1 ? base : base + "#" + seen, (int) dims.size(e.getKey()),
                    parent == null ? -1 : groupOfRoot.get(parent), m));
        }
        return new PermutationSpec(groups, axes, fixed, probes(groupOfRoot, groups));
    }

    /** For each group, the first input of a MatMul, Gemm or Conv (not a weight) that holds it (and its parent). */
    private List<PermutationSpec.Probe> probes(Map<Integer, Integer> groupOfRoot, List<PermutationSpec.Group> groups) {
        List<PermutationSpec.Probe> out = new ArrayList<>();
        Set<Integer> seen = new java.util.HashSet<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            if (!Set.of("MatMul", "Gemm", "Conv", "ConvTranspose").contains(n.getOpType()) || !n.getDomain().isEmpty()) {
                continue;
            }
            for (String in : n.getInputList()) {
                int[] d = values.get(in);
                if (in.isEmpty() || initializers.containsKey(in) || d == null) {
                    continue;
                }
                List<List<PermutationSpec.Factor>> axes = new ArrayList<>();
                Set<Integer> held = new java.util.HashSet<>();
                for (int x : d) {
                    List<PermutationSpec.Factor> factors = new ArrayList<>();
                    for (int leaf : dims.leaves(x)) {
                        Integer g = dims.isFixed(leaf) ? null : groupOfRoot.get(leaf);
                        factors.add(new PermutationSpec.Factor(g == null ? -1 : g, (int) dims.size(leaf)));
                        if (g != null) {
                            held.add(g);
                        }
                    }
                    axes.add(factors);
                }
                boolean useful = false;
                for (int g : held) {
                    int parent = groups.get(g).parent();
                    useful |= !seen.contains(g) && (parent < 0 || held.contains(parent));
                }
                if (useful) {
                    for (int g : held) {
                        int parent = groups.get(g).parent();
                        if (parent < 0 || held.contains(parent)) {
                            seen.add(g);
                        }
                    }
                    out.add(new PermutationSpec.Probe(in, axes));
                }
            }
        }
        return out;
    }

    /**
     * The groups that may permute differently within each unit of another (the head dimension within each
     * head): a group whose every occurrence inside a product axis comes right after the same group, and every
     * value holding it also holds that group, so each element knows its block. Maps such a group's root to its
     * parent's root.
     */
    private Map<Integer, Integer> nesting(java.util.Collection<Integer> groupRoots) {
        Map<Integer, Integer> parent = new HashMap<>();
        Set<Integer> broken = new java.util.HashSet<>();
        List<List<Integer>> valueLeaves = new ArrayList<>();
        for (int[] d : values.values()) {
            List<Integer> all = new ArrayList<>();
            for (int x : d) {
                List<Integer> leaves = dims.leaves(x);
                for (int k = 0; k < leaves.size(); k++) {
                    int leaf = leaves.get(k);
                    all.add(leaf);
                    if (k > 0 && groupRoots.contains(leaf)) {
                        int before = leaves.get(k - 1);
                        Integer seen = parent.putIfAbsent(leaf, before);
                        if ((seen != null && seen != before) || !groupRoots.contains(before)) {
                            broken.add(leaf);
                        }
                    }
                }
            }
            valueLeaves.add(all);
        }
        for (List<Integer> leaves : valueLeaves) {
            for (int leaf : leaves) {
                Integer p = parent.get(leaf);
                if (p != null && !leaves.contains(p)) {
                    broken.add(leaf);
                }
            }
        }
        parent.keySet().removeAll(broken);
        return parent;
    }

    private String reasonOf(List<Integer> leaves) {
        for (int leaf : leaves) {
            String r = dims.reason(leaf);
            if (r != null && dims.size(leaf) > 1) {
                return r;
            }
        }
        return "size 1";
    }

    /** The longest module path shared by the members' weights (dotted), or "model". */
    private static String commonModule(List<PermutationSpec.Member> members, GraphIndex index) {
        String[] common = null;
        int length = 0;
        for (PermutationSpec.Member m : members) {
            String path = index.get(m.weight()).map(IndexedWeight::modulePath).orElse("");
            String[] parts = path.isEmpty() ? new String[0] : path.split("\\.");
            if (common == null) {
                common = parts;
                length = parts.length;
            } else {
                int k = 0;
                while (k < length && k < parts.length && common[k].equals(parts[k])) {
                    k++;
                }
                length = k;
            }
        }
        return common == null || length == 0 ? "model" : String.join(".", Arrays.copyOf(common, length));
    }
}
