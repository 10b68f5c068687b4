package dev.graft.testing;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * Small ONNX models built in code, for tests that need exact control over the file: an MLP
 * {@code x[N,4] → MatMul W1[4,8] → Add b1 → Relu → Gemm(W2[3,8], b2, transB=1) → Reshape(shape) → y[N,3]}
 * with seeded random weights, a CNN
 * {@code x[N,2,5,5] → Conv(C1[3,2,3,3], c1, pads 1, strides 2) → Relu → Conv(C2[3,1,1,1], group 3) → y[N,3,3,3]},
 * and builders for the pieces.
 */
public final class TinyModels {
    public static final int IN = 4;
    public static final int HIDDEN = 8;
    public static final int OUT = 3;

    private TinyModels() {
    }

    /** The MLP with weights drawn from {@code seed}, all float32 {@code raw_data}. */
    public static ModelProto mlp(long seed) {
        Random r = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("tiny_mlp")
                .addInput(floatInput("x", "N", IN))
                .addOutput(floatInput("y", "N", OUT))
                .addInitializer(floats("W1", random(r, IN * HIDDEN), IN, HIDDEN))
                .addInitializer(floats("b1", random(r, HIDDEN), HIDDEN))
                .addInitializer(floats("W2", random(r, OUT * HIDDEN), OUT, HIDDEN))
                .addInitializer(floats("b2", random(r, OUT), OUT))
                .addInitializer(int64s("shape", new long[] {-1, OUT}, 2))
                .addNode(node("MatMul", "/layer.0/fc/MatMul", new String[] {"x", "W1"}, "h0"))
                .addNode(node("Add", "/layer.0/fc/Add", new String[] {"h0", "b1"}, "h1"))
                .addNode(node("Relu", "/layer.0/act/Relu", new String[] {"h1"}, "h2"))
                .addNode(node("Gemm", "/layer.1/fc/Gemm", new String[] {"h2", "W2", "b2"}, "h3").toBuilder()
                        .addAttribute(intAttr("transB", 1)).build())
                .addNode(node("Reshape", "/out/Reshape", new String[] {"h3", "shape"}, "y"));
        return model(g);
    }

    /** The CNN with weights drawn from {@code seed}: a plain convolution, then a depthwise one. */
    public static ModelProto cnn(long seed) {
        Random r = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("tiny_cnn")
                .addInput(floatInput("x", "N", 2, 5, 5))
                .addOutput(floatInput("y", "N", 3, 3, 3))
                .addInitializer(floats("C1", random(r, 3 * 2 * 3 * 3), 3, 2, 3, 3))
                .addInitializer(floats("c1", random(r, 3), 3))
                .addInitializer(floats("C2", random(r, 3), 3, 1, 1, 1))
                .addNode(node("Conv", "/layer.0/conv/Conv", new String[] {"x", "C1", "c1"}, "h0").toBuilder()
                        .addAttribute(intsAttr("pads", 1, 1, 1, 1)).addAttribute(intsAttr("strides", 2, 2)).build())
                .addNode(node("Relu", "/layer.0/act/Relu", new String[] {"h0"}, "h1"))
                .addNode(node("Conv", "/layer.1/conv/Conv", new String[] {"h1", "C2"}, "y").toBuilder()
                        .addAttribute(intAttr("group", 3)).build());
        return model(g);
    }

    /** A model around {@code graph}: IR 8, opset 17, producer "graft-tests". */
    public static ModelProto model(GraphProto.Builder graph) {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-tests")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(graph).build();
    }

    public static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    public static TensorProto floats(String name, float[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        b.flip();
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(b));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    public static TensorProto int64s(String name, long[] values, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE);
        for (long v : values) {
            t.addInt64Data(v);
        }
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    public static NodeProto node(String op, String name, String[] inputs, String output) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name).addOutput(output);
        for (String i : inputs) {
            n.addInput(i);
        }
        return n.build();
    }

    public static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    public static AttributeProto intsAttr(String name, long... v) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long x : v) {
            a.addInts(x);
        }
        return a.build();
    }

    /** A float32 value {@code [symbolicBatch, dims...]}. */
    public static ValueInfoProto floatInput(String name, String symbolicBatch, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(symbolicBatch));
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    /** Writes {@code model} to {@code file} and returns the file. */
    public static Path save(ModelProto model, Path file) {
        try {
            Files.write(file, model.toByteArray());
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
