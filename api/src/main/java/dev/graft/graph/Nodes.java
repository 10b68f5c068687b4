package dev.graft.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import java.util.List;

/** Small builders of the nodes that graph edits add: a node named after its output, constants, attributes. */
final class Nodes {
    private Nodes() {
    }

    /** Node {@code op} of the default domain reading {@code inputs} and writing {@code output}, named after it. */
    static NodeProto node(String op, List<String> inputs, String output, AttributeProto... attributes) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).addAllInput(inputs).addOutput(output)
                .setName(output);
        for (AttributeProto a : attributes) {
            b.addAttribute(a);
        }
        return b.build();
    }

    /** A {@code Constant} of int64 values {@code dims} (a shape, axes or a count), written to {@code name}. */
    static NodeProto int64s(String name, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(dims.length);
        for (long d : dims) {
            t.addInt64Data(d);
        }
        return constant(name, t.build());
    }

    /** A scalar float {@code Constant} written to {@code name}. */
    static NodeProto constantFloat(String name, float value) {
        return constant(name, TensorProto.newBuilder().setDataType(TensorProto.DataType.FLOAT_VALUE)
                .addFloatData(value).build());
    }

    static NodeProto constant(String name, TensorProto value) {
        return NodeProto.newBuilder().setOpType("Constant").setName(name).addOutput(name)
                .addAttribute(tensor("value", value)).build();
    }

    /** A one-element float tensor ({@code [1]}), as {@code ConstantOfShape} takes its value. */
    static TensorProto floatTensor(float value) {
        return TensorProto.newBuilder().setDataType(TensorProto.DataType.FLOAT_VALUE).addDims(1).addFloatData(value)
                .build();
    }

    static AttributeProto tensor(String name, TensorProto value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.TENSOR).setT(value)
                .build();
    }

    static AttributeProto ints(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    static AttributeProto floats(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    static AttributeProto string(String name, String value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRING)
                .setS(com.google.protobuf.ByteString.copyFromUtf8(value)).build();
    }

    static AttributeProto longs(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    /**
     * A Reshape's shape: {@code leading} zeros (keep those axes), {@code ones} ones, then {@code tail}: a router's
     * {@code [batch, 1.., T, 1]}, say.
     */
    static long[] reshape(int leading, int ones, long... tail) {
        long[] out = new long[leading + ones + tail.length];
        for (int k = leading; k < leading + ones; k++) {
            out[k] = 1;
        }
        System.arraycopy(tail, 0, out, leading + ones, tail.length);
        return out;
    }
}
