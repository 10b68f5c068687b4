package dev.graft.linalg;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;

/**
 * Large float32 matrix products run by ONNX Runtime's GEMM, which is an order of magnitude faster than plain
 * Java loops (measured here: about 230 GFLOP/s on 2 threads against 3 to 10): cost matrices and Gram matrices
 * for alignment. Matrices are row-major {@code float[]}. Holds one small ONNX Runtime session; close it.
 */
public final class MatrixProducts implements AutoCloseable {
    private final OrtEnvironment env = dev.graft.verify.OrtEnvironments.get();
    private final OrtSession.SessionOptions options;
    private final OrtSession aBt;

    /** @param threads ONNX Runtime's intra-op threads */
    public MatrixProducts(int threads) {
        try {
            options = new OrtSession.SessionOptions();
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            aBt = env.createSession(gemmModel().toByteArray(), options);
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime cannot create a GEMM session: " + e.getMessage(), e);
        }
    }

    /**
     * {@code A · Bᵀ}: the {@code m×n} matrix of dot products between the rows of {@code a} ({@code m×k}) and
     * those of {@code b} ({@code n×k}).
     */
    public float[] timesTransposed(float[] a, int m, int k, float[] b, int n) {
        check(a, m, k, "a");
        check(b, n, k, "b");
        if (m == 0 || n == 0) {
            return new float[m * n];
        }
        if (k == 0) {
            return new float[Math.multiplyExact(m, n)];
        }
        try (OnnxTensor ta = OnnxTensor.createTensor(env, FloatBuffer.wrap(a), new long[] {m, k});
             OnnxTensor tb = OnnxTensor.createTensor(env, FloatBuffer.wrap(b), new long[] {n, k});
             OrtSession.Result r = aBt.run(Map.of("A", ta, "B", tb))) {
            FloatBuffer c = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] out = new float[Math.multiplyExact(m, n)];
            c.get(out);
            return out;
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime GEMM failed: " + e.getMessage(), e);
        }
    }

    private static void check(float[] x, int rows, int cols, String name) {
        if ((long) rows * cols != x.length) {
            throw new IllegalArgumentException("matrix " + name + " of " + rows + "×" + cols + " needs "
                    + (long) rows * cols + " values, got " + x.length);
        }
    }

    /** {@code C = Gemm(A[M,K], B[N,K], transB=1)} with symbolic sizes. */
    private static ModelProto gemmModel() {
        GraphProto g = GraphProto.newBuilder().setName("graft_gemm")
                .addInput(matrix("A", "M", "K"))
                .addInput(matrix("B", "N", "K"))
                .addOutput(matrix("C", "M", "N"))
                .addNode(NodeProto.newBuilder().setOpType("Gemm").addInput("A").addInput("B").addOutput("C")
                        .addAttribute(AttributeProto.newBuilder().setName("transB").setI(1)
                                .setType(AttributeProto.AttributeType.INT)))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("graft")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build();
    }

    private static ValueInfoProto matrix(String name, String rows, String cols) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(
                        TensorShapeProto.newBuilder()
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(rows))
                                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(cols))))).build();
    }

    /** The transpose of {@code m} ({@code rows × cols}, row-major): {@code cols × rows}. */
    public static float[] transpose(float[] m, int rows, int cols) {
        return transpose(m, rows, cols, new float[m.length]);
    }

    /** The transpose of {@code m} ({@code rows × cols}, row-major) written into {@code out}, which is returned. */
    public static float[] transpose(float[] m, int rows, int cols, float[] out) {
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[c * rows + r] = m[r * cols + c];
            }
        }
        return out;
    }

    @Override
    public void close() {
        try {
            aBt.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
        options.close();
    }
}
