package dev.graft.bench;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.WriteOptions;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic models with random float32 weights, for benchmarks: a pass-through graph ({@code Identity}) whose
 * initializers have the shapes of a real architecture, written by Graft's own writer.
 */
final class SyntheticModel {
    private SyntheticModel() {
    }

    /** Square [1024,1024] float32 tensors (4 MiB each) until {@code bytes} is reached. */
    static List<long[]> squares(long bytes) {
        List<long[]> shapes = new ArrayList<>();
        for (long total = 0; total < bytes; total += 4L << 20) {
            shapes.add(new long[] {1024, 1024});
        }
        return shapes;
    }

    /** The weight shapes of BERT-base (hidden 768, FFN 3072, 12 layers, vocabulary 30522): about 110M parameters. */
    static List<long[]> bertBase() {
        return bertBase(12);
    }

    /** BERT-base shapes with {@code layers} encoder layers. */
    static List<long[]> bertBase(int layers) {
        List<long[]> s = new ArrayList<>();
        s.add(new long[] {30522, 768});
        s.add(new long[] {512, 768});
        s.add(new long[] {2, 768});
        s.add(new long[] {768});
        s.add(new long[] {768});
        for (int layer = 0; layer < layers; layer++) {
            for (int i = 0; i < 4; i++) {
                s.add(new long[] {768, 768});
                s.add(new long[] {768});
            }
            s.add(new long[] {768});
            s.add(new long[] {768});
            s.add(new long[] {768, 3072});
            s.add(new long[] {3072});
            s.add(new long[] {3072, 768});
            s.add(new long[] {768});
            s.add(new long[] {768});
            s.add(new long[] {768});
        }
        s.add(new long[] {768, 768});
        s.add(new long[] {768});
        return s;
    }

    static long parameters(List<long[]> shapes) {
        long n = 0;
        for (long[] s : shapes) {
            long c = 1;
            for (long d : s) {
                c *= d;
            }
            n += c;
        }
        return n;
    }

    /** Writes a model with these weight shapes, random values from {@code seed}, in the given layout. */
    static void write(Path file, List<long[]> shapes, long seed, WriteOptions.Layout layout) {
        ValueInfoProto io = ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))).build();
        ModelProto template = ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-bench")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .setGraph(GraphProto.newBuilder().setName("synthetic").addInput(io)
                        .addOutput(io.toBuilder().setName("y"))
                        .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("x").addOutput("y")))
                .build();
        List<OutputTensor> tensors = new ArrayList<>();
        for (int i = 0; i < shapes.size(); i++) {
            long[] shape = shapes.get(i);
            long stream = seed * 1_000_003L + i;
            tensors.add(OutputTensor.of("w" + i, ElementType.FLOAT, shape, () -> random(shape, stream)));
        }
        OnnxWriter.write(template, tensors, file, WriteOptions.defaults().withLayout(layout).withSync(false));
    }

    /**
     * {@code count} models of {@code shapes}, {@code folder/PREFIXi.onnx} for i = 0, 1, …, model i with weights from
     * seed {@code seed + i}.
     */
    static Path[] writeAll(Path folder, String prefix, int count, List<long[]> shapes, long seed,
                           WriteOptions.Layout layout) {
        Path[] models = new Path[count];
        for (int i = 0; i < count; i++) {
            models[i] = folder.resolve(prefix + i + ".onnx");
            write(models[i], shapes, seed + i, layout);
        }
        return models;
    }

    /**
     * A BERT-base-sized model whose dense weights are used: embeddings [30522,768] and [512,768] (kept as
     * initializers), and per layer a chain of MatMul nodes named like an exported BERT's
     * ({@code /encoder/layer.N/attention/self/query/MatMul}, ...) through the query, key, value, attention-output
     * (768×768), intermediate (768×3072) and output (3072×768) weights: about 109M parameters.
     */
    static void writeDense(Path file, int layers, long seed) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("synthetic-dense");
        g.addInput(ValueInfoProto.newBuilder().setName("x").setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))));
        List<OutputTensor> tensors = new ArrayList<>();
        long[][] embeddings = {{30522, 768}, {512, 768}};
        for (int i = 0; i < embeddings.length; i++) {
            long[] shape = embeddings[i];
            long stream = seed * 1_000_003L + i;
            tensors.add(OutputTensor.of("embeddings." + i, ElementType.FLOAT, shape, () -> random(shape, stream)));
        }
        String value = "x";
        String[] modules = {"attention/self/query", "attention/self/key", "attention/self/value",
                "attention/output/dense", "intermediate/dense", "output/dense"};
        for (int layer = 0; layer < layers; layer++) {
            for (String m : modules) {
                long[] shape = m.startsWith("intermediate") ? new long[] {768, 3072}
                        : m.equals("output/dense") ? new long[] {3072, 768} : new long[] {768, 768};
                String name = "/encoder/layer." + layer + "/" + m;
                long stream = seed * 1_000_003L + tensors.size();
                tensors.add(OutputTensor.of(name + "/weight", ElementType.FLOAT, shape, () -> random(shape, stream)));
                g.addNode(NodeProto.newBuilder().setOpType("MatMul").setName(name + "/MatMul").addInput(value)
                        .addInput(name + "/weight").addOutput(name + "/out"));
                value = name + "/out";
            }
        }
        g.addOutput(ValueInfoProto.newBuilder().setName(value).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))));
        ModelProto template = ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-bench")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(g).build();
        OnnxWriter.write(template, tensors, file, WriteOptions.defaults().withSync(false));
    }

    private static float[] random(long[] shape, long seed) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] v = new float[Math.toIntExact(n)];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextDouble() - 0.5) * 0.1f;
        }
        return v;
    }
}
