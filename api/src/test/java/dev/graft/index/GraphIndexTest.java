package dev.graft.index;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GraphIndexTest {
    @TempDir
    Path dir;

    private static String[] in(String... names) {
        return names;
    }

    /**
     * Decoder exports: RMSNorm decomposed as {@code w · (x · rsqrt(mean(x²) + ε))} (and, in float16, with casts
     * around it, and in Optimum's legacy merged decoder, inside the branches of an If) is a norm scale; int4 {@code MatMulNBits} codes and scales are parts of a quantized weight.
     */
    @Test
    void rolesOfDecoderExports() {
        for (String layout : List.of("optimum/base/model", "fp16/model", "legacy/decoder_model_merged")) {
            // the legacy merged decoder reads the outer graph's weights inside the branches of an If
            try (OnnxModel m = OnnxModel.open(Decoders.DIR.resolve(layout + ".onnx"))) {
                GraphIndex index = GraphIndex.of(m);
                for (String norm : List.of("model.layers.0.input_layernorm.weight",
                        "model.layers.1.post_attention_layernorm.weight", "model.norm.weight")) {
                    assertThat(index.get(norm).orElseThrow().role()).as(layout + " " + norm)
                            .isEqualTo(WeightRole.NORM_SCALE);
                }
                assertThat(index.weights()).as(layout).filteredOn(w -> w.role() == WeightRole.UNKNOWN)
                        .filteredOn(w -> m.initializers().contains(w.weight()))
                        .isEmpty(); // every initializer has its role (Constant nodes aside)
            }
        }
        try (OnnxModel m = OnnxModel.open(Decoders.model("genai/base/model.onnx"))) {
            GraphIndex index = GraphIndex.of(m);
            assertThat(index.weights()).filteredOn(w -> m.initializers().contains(w.weight()))
                    .filteredOn(w -> w.role() == WeightRole.UNKNOWN).isEmpty();
            assertThat(index.get("cos_cache").orElseThrow().role()).isEqualTo(WeightRole.ROTARY_CACHE);
            assertThat(index.get("cos_cache").orElseThrow().layer()).isEmpty(); // read by every layer: none's
            assertThat(index.get("model.layers.2.final_norm_layernorm.weight").orElseThrow().layer()).isEmpty();
            assertThat(index.get("model.layers.1.input_layernorm.weight").orElseThrow().role())
                    .isEqualTo(WeightRole.NORM_SCALE);
            assertThat(PackedProjection.find(m, index)).hasSize(2).first().satisfies(p -> assertThat(p.parts())
                    .containsExactly(new PackedProjection.Part("model.layers.0.self_attn.q_proj", 0, 32),
                            new PackedProjection.Part("model.layers.0.self_attn.k_proj", 32, 16),
                            new PackedProjection.Part("model.layers.0.self_attn.v_proj", 48, 16)));
        }
        try (OnnxModel m = OnnxModel.open(Decoders.model("int4/base/model.onnx"))) {
            GraphIndex index = GraphIndex.of(m);
            IndexedWeight codes = index.get("model.layers.0.self_attn.q_proj.MatMul.weight_Q4").orElseThrow();
            assertThat(codes.role()).isEqualTo(WeightRole.QUANTIZED);
            assertThat(codes.modulePath()).isEqualTo("model.layers.0.self_attn.q_proj");
            assertThat(index.get("model.layers.0.self_attn.q_proj.MatMul.weight_scales").orElseThrow().role())
                    .isEqualTo(WeightRole.QUANT_SCALES);
        }
    }

    @Test
    void rolesOfATinyMlp() {
        try (OnnxModel m = OnnxModel.open(TinyModels.save(TinyModels.mlp(1), dir.resolve("m.onnx")))) {
            GraphIndex index = GraphIndex.of(m);
            assertThat(index.get("W1").orElseThrow().role()).isEqualTo(WeightRole.MATMUL_WEIGHT);
            assertThat(index.get("b1").orElseThrow().role()).isEqualTo(WeightRole.BIAS);
            assertThat(index.get("W2").orElseThrow().role()).isEqualTo(WeightRole.GEMM_WEIGHT_OUT_IN);
            assertThat(index.get("b2").orElseThrow().role()).isEqualTo(WeightRole.BIAS);
            assertThat(index.get("shape").orElseThrow().role()).isEqualTo(WeightRole.UNKNOWN);
            IndexedWeight w1 = index.get("W1").orElseThrow();
            assertThat(w1.modulePath()).isEqualTo("layer.0.fc");
            assertThat(w1.layer()).hasValue(0);
            assertThat(index.get("W2").orElseThrow().layer()).hasValue(1);
        }
    }

    @Test
    void convolutionBatchNormLayerNormEmbeddingAndCastsAreRecognised() {
        Random r = new Random(1);
        GraphProto.Builder g = GraphProto.newBuilder()
                .addInitializer(TinyModels.floats("conv.w", TinyModels.random(r, 8 * 3 * 9), 8, 3, 3, 3))
                .addInitializer(TinyModels.floats("conv.b", TinyModels.random(r, 8), 8))
                .addInitializer(TinyModels.floats("bn.scale", TinyModels.random(r, 8), 8))
                .addInitializer(TinyModels.floats("bn.bias", TinyModels.random(r, 8), 8))
                .addInitializer(TinyModels.floats("bn.mean", TinyModels.random(r, 8), 8))
                .addInitializer(TinyModels.floats("bn.var", TinyModels.random(r, 8), 8))
                .addInitializer(TinyModels.floats("deconv.w", TinyModels.random(r, 8 * 2 * 4), 8, 2, 2, 2))
                .addInitializer(TinyModels.floats("ln.gamma", TinyModels.random(r, 4), 4))
                .addInitializer(TinyModels.floats("ln.beta", TinyModels.random(r, 4), 4))
                .addInitializer(TinyModels.floats("old.gamma", TinyModels.random(r, 4), 4))
                .addInitializer(TinyModels.floats("old.beta", TinyModels.random(r, 4), 4))
                .addInitializer(TinyModels.floats("emb", TinyModels.random(r, 40), 10, 4))
                .addInitializer(TinyModels.floats("cast.w", TinyModels.random(r, 16), 4, 4))
                .addInitializer(TinyModels.floats("tied", TinyModels.random(r, 16), 4, 4))
                .addNode(TinyModels.node("Conv", "/conv/Conv", in("img", "conv.w", "conv.b"), "c"))
                .addNode(TinyModels.node("BatchNormalization", "/bn/BatchNormalization",
                        in("c", "bn.scale", "bn.bias", "bn.mean", "bn.var"), "bn"))
                .addNode(TinyModels.node("ConvTranspose", "/up/ConvTranspose", in("bn", "deconv.w"), "up"))
                .addNode(TinyModels.node("LayerNormalization", "/ln/LayerNormalization", in("x", "ln.gamma", "ln.beta"), "l"))
                // decomposed LayerNorm of opset-11 exports
                .addNode(TinyModels.node("ReduceMean", "/old/ReduceMean", in("x"), "mu"))
                .addNode(TinyModels.node("Sub", "/old/Sub", in("x", "mu"), "xc"))
                .addNode(TinyModels.node("Pow", "/old/Pow", in("xc", "two"), "sq"))
                .addNode(TinyModels.node("ReduceMean", "/old/ReduceMean_1", in("sq"), "var"))
                .addNode(TinyModels.node("Add", "/old/Add", in("var", "eps"), "ve"))
                .addNode(TinyModels.node("Sqrt", "/old/Sqrt", in("ve"), "sd"))
                .addNode(TinyModels.node("Div", "/old/Div", in("xc", "sd"), "nx"))
                .addNode(TinyModels.node("Mul", "/old/Mul", in("nx", "old.gamma"), "sx"))
                .addNode(TinyModels.node("Add", "/old/Add_1", in("sx", "old.beta"), "ox"))
                .addNode(TinyModels.node("Gather", "/emb/Gather", in("emb", "ids"), "e"))
                .addNode(TinyModels.node("Cast", "/proj/Cast", in("cast.w"), "cw"))
                .addNode(TinyModels.node("MatMul", "/proj/MatMul", in("e", "cw"), "p"))
                .addNode(TinyModels.node("MatMul", "/a/MatMul", in("e", "tied"), "t1"))
                .addNode(TinyModels.node("Gather", "/b/Gather", in("tied", "ids"), "t2"));
        ModelProto m = TinyModels.model(g);
        try (OnnxModel model = OnnxModel.open(TinyModels.save(m, dir.resolve("m.onnx")))) {
            Map<String, WeightRole> roles = GraphIndex.of(model).weights().stream()
                    .collect(Collectors.toMap(IndexedWeight::name, IndexedWeight::role));
            assertThat(roles).containsEntry("conv.w", WeightRole.CONV_WEIGHT)
                    .containsEntry("conv.b", WeightRole.BIAS)
                    .containsEntry("bn.scale", WeightRole.NORM_SCALE)
                    .containsEntry("bn.bias", WeightRole.NORM_BIAS)
                    .containsEntry("bn.mean", WeightRole.NORM_MEAN)
                    .containsEntry("bn.var", WeightRole.NORM_VARIANCE)
                    .containsEntry("deconv.w", WeightRole.CONV_TRANSPOSE_WEIGHT)
                    .containsEntry("ln.gamma", WeightRole.NORM_SCALE)
                    .containsEntry("ln.beta", WeightRole.NORM_BIAS)
                    .containsEntry("old.gamma", WeightRole.NORM_SCALE)
                    .containsEntry("old.beta", WeightRole.NORM_BIAS)
                    .containsEntry("emb", WeightRole.EMBEDDING)
                    .containsEntry("cast.w", WeightRole.MATMUL_WEIGHT)
                    .as("a weight used in two different roles is not guessed")
                    .containsEntry("tied", WeightRole.UNKNOWN);
        }
    }

    /**
     * bge-small has 12 layers of 6 linear maps each (query, key, value, attention output, FFN up, FFN down),
     * exported as MatMul weights [in,out] named onnx::MatMul_N: the index must place each one. Expected
     * layouts come from the BERT architecture (hidden 384, FFN 1536), not from the index.
     */
    @Test
    void mapsAll72LinearWeightsOfBgeSmallToTheirLayerAndRole() {
        Map<String, long[]> expectedShape = Map.of(
                "attention.self.query", new long[] {384, 384},
                "attention.self.key", new long[] {384, 384},
                "attention.self.value", new long[] {384, 384},
                "attention.output.dense", new long[] {384, 384},
                "intermediate.dense", new long[] {384, 1536},
                "output.dense", new long[] {1536, 384});
        try (OnnxModel m = OnnxModel.open(RealModels.bgeSmall())) {
            GraphIndex index = GraphIndex.of(m);
            List<IndexedWeight> linear = index.weights().stream()
                    .filter(w -> w.role() == WeightRole.MATMUL_WEIGHT).collect(Collectors.toList());
            assertThat(linear).hasSize(72);
            for (int layer = 0; layer < 12; layer++) {
                for (Map.Entry<String, long[]> module : expectedShape.entrySet()) {
                    String path = "encoder.layer." + layer + "." + module.getKey();
                    List<IndexedWeight> found = linear.stream().filter(w -> w.modulePath().equals(path))
                            .collect(Collectors.toList());
                    assertThat(found).as(path).hasSize(1);
                    IndexedWeight w = found.get(0);
                    assertThat(w.layer()).hasValue(layer);
                    assertThat(w.weight().shape()).as(path).containsExactly(module.getValue());
                    assertThat(w.name()).startsWith("onnx::MatMul_");
                    // its bias keeps the PyTorch name of the same module
                    assertThat(index.get(path + ".bias").orElseThrow().role()).isEqualTo(WeightRole.BIAS);
                }
                for (String ln : List.of("attention.output.LayerNorm", "output.LayerNorm")) {
                    String p = "encoder.layer." + layer + "." + ln;
                    assertThat(index.get(p + ".weight").orElseThrow().role()).as(p).isEqualTo(WeightRole.NORM_SCALE);
                    assertThat(index.get(p + ".bias").orElseThrow().role()).as(p).isEqualTo(WeightRole.NORM_BIAS);
                }
            }
            assertThat(index.get("embeddings.word_embeddings.weight").orElseThrow().role())
                    .isEqualTo(WeightRole.EMBEDDING);
            assertThat(index.get("embeddings.LayerNorm.weight").orElseThrow().role()).isEqualTo(WeightRole.NORM_SCALE);
        }
    }
}
