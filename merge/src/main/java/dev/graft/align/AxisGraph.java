package dev.graft.align;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.data.ValueShapes;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What permutation inference knows while it walks a graph: each value's axes as {@link Dims} variables (the axis
 * union-find), the weights met so far, the concrete shapes from one probe run, and the steps every
 * {@link OpRule} shares: an axis fixed, an output set (checked against ONNX Runtime's shape), an op Graft cannot
 * follow.
 */
final class AxisGraph {
    final OnnxModel model;
    final Map<String, ValueShapes.Shape> shapes;
    final Dims dims = new Dims();
    /** Every value's axes, by value name. */
    final Map<String, int[]> values = new HashMap<>();
    /** The weights' axes, in the order they were met. */
    final Map<String, int[]> weights = new LinkedHashMap<>();
    final Map<String, Weight> initializers = new HashMap<>();
    /** The variable of every axis of size 1. */
    final int one;

    AxisGraph(OnnxModel model, Map<String, ValueShapes.Shape> shapes) {
        this.model = model;
        this.shapes = shapes;
        this.one = dims.fixed(1, "size 1");
        for (Weight w : model.initializers()) {
            initializers.put(w.name(), w);
        }
    }

    /** The axes of {@code n}'s first input; null, with every axis {@code n} touches fixed, if its shape is unknown. */
    int[] firstInput(NodeProto n, String where) {
        int[] x = dimsOf(n.getInput(0));
        if (x == null) {
            unknown(n, where + " has an input of unknown shape");
        }
        return x;
    }

    /** An op whose effect on channels Graft does not know: every axis it touches stays fixed. */
    void unknown(NodeProto n, String reason) {
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

    void outputsFixed(NodeProto n, String reason) {
        for (int k = 0; k < n.getOutputCount(); k++) {
            if (!n.getOutput(k).isEmpty()) {
                values.put(n.getOutput(k), fixedDims(shapeOf(n.getOutput(k)), reason));
            }
        }
    }

    /** The dims of a value: computed, a graph input, or a weight (one free variable per axis, made on first use). */
    int[] dimsOf(String name) {
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

    void setOutput(NodeProto n, int k, int[] d, String where) {
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

    long[] shapeOf(String name) {
        ValueShapes.Shape s = shapes.get(name);
        if (s != null) {
            return s.shape();
        }
        Weight w = initializers.get(name);
        return w == null ? null : w.shape();
    }

    int[] fixedDims(long[] shape, String reason) {
        if (shape == null) {
            return null;
        }
        int[] out = new int[shape.length];
        for (int k = 0; k < shape.length; k++) {
            out[k] = shape[k] == 1 ? one : dims.fixed(shape[k], reason);
        }
        return out;
    }

    long[] constantInts(String name) {
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
}
