package dev.graft.bench;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.WriteOptions;
import dev.graft.tensor.BlockQuantization;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A synthetic decoder LLM with a real architecture's weight shapes, exported the way Optimum exports one: fp16
 * weights, Hugging Face names for embeddings, norms and biases, anonymous {@code onnx::MatMul_N} names for the
 * linear weights (stored {@code [in, out]}), and the tied head as a transposed copy of the embedding table; or the
 * same model with every linear weight (head included) as an int4 {@code MatMulNBits} (block 32, symmetric, fp16
 * scales), as ONNX Runtime GenAI ships one. The graph runs each layer's projections (attention itself and the
 * norms' statistics are left out: the benchmark merges weights, it does not run them). Values come from a hash of
 * (model, tensor, index), so a fine-tune is its base plus a small task vector, and the transposed head is written
 * without holding the table.
 */
final class SyntheticDecoder {
    /** Qwen2.5-1.5B: hidden 1536, 28 layers, 12 query and 2 key-value heads of 128, FFN 8960, vocabulary 151936. */
    record Shape(int hidden, int layers, int kvWidth, int ffn, int vocab) {
        static final Shape QWEN_1_5B = new Shape(1536, 28, 256, 8960, 151936);

        /** Parameters of the architecture (the tied head counted once). */
        long parameters() {
            long perLayer = 2L * hidden * hidden + 2L * hidden * kvWidth + 3L * hidden * ffn
                    + hidden + 2L * kvWidth + 2L * hidden;
            return (long) vocab * hidden + layers * perLayer + hidden;
        }
    }

    private static final int SLICE = 1 << 20;
    private static final int BLOCK = 32;
    private final Shape shape;
    private final boolean int4;
    private final GraphProto.Builder graph = GraphProto.newBuilder().setName("synthetic-decoder");
    private final List<OutputTensor> tensors = new ArrayList<>();
    private final long model;
    private final boolean fineTune;
    private int counter = 100;

    private SyntheticDecoder(Shape shape, boolean int4, long model) {
        this.shape = shape;
        this.int4 = int4;
        this.model = model;
        this.fineTune = model != 0;
    }

    /**
     * Writes model {@code model} (0: the base; others: fine-tunes of it) to {@code file}, its weights in the
     * external data file beside it.
     */
    static void write(Path file, Shape shape, boolean int4, long model) {
        new SyntheticDecoder(shape, int4, model).build(file);
    }

    private void build(Path file) {
        graph.addInput(value("input_ids", TensorProto.DataType.INT64_VALUE, "batch", "sequence"));
        tensor("model.embed_tokens.weight", 1, shape.vocab(), shape.hidden(), 0.02f, false);
        graph.addNode(node("Gather", "/model/embed_tokens/Gather", "h0", "model.embed_tokens.weight", "input_ids"));
        String h = "h0";
        for (int l = 0; l < shape.layers(); l++) {
            String p = "/model/layers." + l;
            String hf = "model.layers." + l;
            String n = norm(p + "/input_layernorm", hf + ".input_layernorm.weight", h);
            String q = linear(p + "/self_attn/q_proj", n, shape.hidden(), shape.hidden(), hf + ".self_attn.q_proj.bias");
            String k = linear(p + "/self_attn/k_proj", n, shape.hidden(), shape.kvWidth(), hf + ".self_attn.k_proj.bias");
            String v = linear(p + "/self_attn/v_proj", n, shape.hidden(), shape.kvWidth(), hf + ".self_attn.v_proj.bias");
            graph.addNode(node("Add", p + "/self_attn/kv/Add", p + "/kv", k, v));
            String o = linear(p + "/self_attn/o_proj", q, shape.hidden(), shape.hidden(), null);
            graph.addNode(node("Add", p + "/Add", p + "/residual", h, o));
            String n2 = norm(p + "/post_attention_layernorm", hf + ".post_attention_layernorm.weight", p + "/residual");
            String gate = linear(p + "/mlp/gate_proj", n2, shape.hidden(), shape.ffn(), null);
            String up = linear(p + "/mlp/up_proj", n2, shape.hidden(), shape.ffn(), null);
            graph.addNode(node("Mul", p + "/mlp/Mul", p + "/mlp/act", gate, up));
            String down = linear(p + "/mlp/down_proj", p + "/mlp/act", shape.ffn(), shape.hidden(), null);
            graph.addNode(node("Add", p + "/Add_1", p + "/out", p + "/residual", down));
            h = p + "/out";
        }
        String last = norm("/model/norm", "model.norm.weight", h);
        String logits = linear("/lm_head", last, shape.hidden(), shape.vocab(), null);
        graph.addOutput(value(logits, TensorProto.DataType.FLOAT16_VALUE, "batch", "sequence",
                String.valueOf(shape.vocab())));
        ModelProto template = ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-bench")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setGraph(graph).build();
        OnnxWriter.write(template, tensors, file, WriteOptions.defaults().withLayout(WriteOptions.Layout.EXTERNAL)
                .withSync(false));
    }

    /** An RMSNorm's weight applied to {@code x} (its statistics left out). */
    private String norm(String node, String weight, String x) {
        tensor(weight, 2, 1, shape.hidden(), 0.05f, true);
        graph.addNode(node("Mul", node + "/Mul_1", node + "/out", x, weight));
        return node + "/out";
    }

    /** A linear layer {@code x·W (+ b)}: a MatMul by an anonymous fp16 weight, or a MatMulNBits. */
    private String linear(String module, String x, int in, int out, String bias) {
        String y = module + "/MatMul_output_0";
        long stream = 1000L + counter;
        if (module.equals("/lm_head") && !int4) {
            // the tied head: the transposed embedding table, written from the table's values
            String name = "onnx::MatMul_" + counter++;
            tensors.add(OutputTensor.streamed(name, ElementType.FLOAT16, new long[] {in, out},
                    sink -> transposedTable(sink, in, out)));
            graph.addNode(node("MatMul", module + "/MatMul", y, x, name));
        } else if (!int4) {
            String name = "onnx::MatMul_" + counter++;
            tensor(name, stream, in, out, 0.05f, false);
            graph.addNode(node("MatMul", module + "/MatMul", y, x, name));
        } else {
            String base = module.substring(1).replace('/', '.') + ".MatMul";
            quantized(base, stream, in, out, module.equals("/lm_head"));
            NodeProto.Builder n = NodeProto.newBuilder().setOpType("MatMulNBits").setDomain("com.microsoft")
                    .setName(module + "/MatMul_Q4").addInput(x).addInput(base + ".weight_Q4")
                    .addInput(base + ".weight_scales").addOutput(y);
            n.addAttribute(attribute("K", in)).addAttribute(attribute("N", out)).addAttribute(attribute("bits", 4))
                    .addAttribute(attribute("block_size", BLOCK)).addAttribute(attribute("accuracy_level", 4));
            graph.addNode(n);
        }
        if (bias == null) {
            return y;
        }
        tensor(bias, stream + 500, 1, out, 0.01f, false);
        graph.addNode(node("Add", module + "/Add", module + "/Add_output_0", y, bias));
        return module + "/Add_output_0";
    }

    /** A [rows, columns] fp16 tensor of hashed values around 0 (or 1, for norms), written in slices. */
    private void tensor(String name, long stream, int rows, int columns, float scale, boolean aroundOne) {
        long n = (long) rows * columns;
        long[] dims = rows == 1 ? new long[] {columns} : new long[] {rows, columns};
        tensors.add(OutputTensor.streamed(name, ElementType.FLOAT16, dims, sink -> {
            float[] v = new float[SLICE];
            for (long first = 0; first < n; first += SLICE) {
                int len = (int) Math.min(SLICE, n - first);
                for (int i = 0; i < len; i++) {
                    v[i] = value(stream, first + i, scale) + (aroundOne ? 1f : 0f);
                }
                sink.accept(first, v, 0, len);
            }
        }));
    }

    /** The transposed embedding table ({@code [hidden, vocab]}), row by row of the copy. */
    private void transposedTable(OutputTensor.SliceSink sink, int hidden, int vocab) {
        float[] row = new float[vocab];
        for (int c = 0; c < hidden; c++) {
            for (int r = 0; r < vocab; r++) {
                row[r] = value(1, (long) r * hidden + c, 0.02f);
            }
            sink.accept((long) c * vocab, row, 0, vocab);
        }
    }

    /**
     * An int4 weight [in, out] as codes [out, in/32, 16] and fp16 scales [out·in/32], quantized a band of output
     * columns at a time by ONNX Runtime's rule ({@link BlockQuantization}).
     */
    private void quantized(String base, long stream, int in, int out, boolean head) {
        int columns = Math.max(1, SLICE / in);
        int blocks = in / BLOCK;
        long[] codeDims = {out, blocks, BLOCK / 2};
        // codes and scales come from one quantization per band: the codes' producer keeps the scales for the
        // scales' producer, which OnnxWriter.write calls next (it writes tensors one by one, in order)
        List<float[]> bandScales = new ArrayList<>();
        tensors.add(OutputTensor.streamed(base + ".weight_Q4", ElementType.UINT8, codeDims, sink -> {
            bandScales.clear();
            for (int c0 = 0; c0 < out; c0 += columns) {
                int nc = Math.min(columns, out - c0);
                float[] w = new float[in * nc];
                for (int k = 0; k < in; k++) {
                    for (int c = 0; c < nc; c++) {
                        w[k * nc + c] = head ? value(1, (long) (c0 + c) * in + k, 0.02f)
                                : value(stream, (long) k * out + c0 + c, 0.05f);
                    }
                }
                BlockQuantization.Quantized q = new BlockQuantization(in, nc, 4, BLOCK, BlockQuantization.ZeroPoints.IMPLICIT).quantize(w);
                float[] codes = new float[q.codes().length];
                for (int i = 0; i < codes.length; i++) {
                    codes[i] = q.codes()[i] & 0xff;
                }
                sink.accept((long) c0 * blocks * (BLOCK / 2), codes, 0, codes.length);
                bandScales.add(q.scales());
            }
        }));
        tensors.add(OutputTensor.streamed(base + ".weight_scales", ElementType.FLOAT16, new long[] {(long) out * blocks},
                sink -> {
                    long at = 0;
                    for (float[] s : bandScales) {
                        sink.accept(at, s, 0, s.length);
                        at += s.length;
                    }
                    bandScales.clear();
                }));
    }

    /** The value of entry {@code index} of tensor {@code stream}: the base's, plus a fine-tune's task vector. */
    private float value(long stream, long index, float scale) {
        float v = uniform(stream * 0x9E3779B97F4A7C15L + index) * scale;
        return fineTune ? v + uniform((stream + model * 7919) * 0xC2B2AE3D27D4EB4FL + index) * scale * 0.05f : v;
    }

    /** A uniform value in [−1, 1) from {@code x} (SplitMix64's finalizer). */
    private static float uniform(long x) {
        long z = x + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 40) * 0x1p-23f - 1f;
    }

    private static NodeProto node(String op, String name, String output, String... inputs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name).addOutput(output);
        for (String i : inputs) {
            n.addInput(i);
        }
        return n.build();
    }

    private static AttributeProto attribute(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    private static ValueInfoProto value(String name, int type, String... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (String d : dims) {
            s.addDim(d.chars().allMatch(Character::isDigit) ? TensorShapeProto.Dimension.newBuilder()
                    .setDimValue(Long.parseLong(d)) : TensorShapeProto.Dimension.newBuilder().setDimParam(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }
}
