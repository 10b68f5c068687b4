package dev.graft.align;

import static dev.graft.testing.TinyModels.floats;
import static dev.graft.testing.TinyModels.intAttr;
import static dev.graft.testing.TinyModels.node;
import static dev.graft.testing.TinyModels.random;
import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PermutationInferenceTest {
    private static final ProbeOptions PROBES = ProbeOptions.defaults();
    private static final Verifier VERIFIER = new Verifier(PROBES);

    @TempDir
    Path dir;

    static PermutationSpec spec(Path model, boolean permuteOutputs) {
        try (OnnxModel m = OnnxModel.open(model)) {
            return PermutationInference.infer(m, dev.graft.data.ValueShapes.of(model, PROBES), permuteOutputs);
        }
    }

    /** Writes {@code model} permuted by random permutations of its spec and returns the largest output difference. */
    private double permutedDifference(Path model, PermutationSpec spec, long seed) {
        Path out = dir.resolve("permuted-" + seed + ".onnx");
        try (OnnxModel m = OnnxModel.open(model)) {
            ModelPermuter.write(m, Permutations.random(spec, seed), out, Map.of());
        }
        VerifyReport r = VERIFIER.verify(out, model);
        return r.maxRel();
    }

    @Test
    void bertFindsHeadsHeadDimensionsAndFeedForwardGroupsAndPermutingThemKeepsTheFunction() {
        Path bge = RealModels.bgeSmall();
        PermutationSpec spec = spec(bge, false);
        // per layer: heads (12), the head dimension shared by Q and K (32), that of V and O (32), the FFN (1536)
        assertThat(spec.groups()).hasSize(48);
        assertThat(spec.groups().stream().filter(g -> g.size() == 1536)).hasSize(12);
        assertThat(spec.groups().stream().filter(g -> g.size() == 12)).hasSize(12);
        assertThat(spec.groups().stream().filter(g -> g.size() == 32)).hasSize(24);
        PermutationSpec.Group heads = spec.groups().stream().filter(g -> g.size() == 12).findFirst().orElseThrow();
        assertThat(heads.members()).extracting(PermutationSpec.Member::weight).contains(
                "encoder.layer.0.attention.self.query.bias", "encoder.layer.0.attention.self.key.bias",
                "encoder.layer.0.attention.self.value.bias");
        // the head dimension may permute differently within each head: those groups are nested in the heads'
        assertThat(spec.groups().stream().filter(g -> g.size() == 32)).allSatisfy(g ->
                assertThat(spec.groups().get(g.parent()).size()).isEqualTo(12));
        PermutationSpec.Group ffn = spec.groups().stream().filter(g -> g.size() == 1536).findFirst().orElseThrow();
        assertThat(ffn.members()).extracting(PermutationSpec.Member::weight)
                .contains("encoder.layer.0.intermediate.dense.bias");
        // the residual stream reaches last_hidden_state, so by default it stays
        assertThat(spec.fixed()).anySatisfy(f -> {
            assertThat(f.weight()).isEqualTo("embeddings.LayerNorm.weight");
            assertThat(f.reason()).isEqualTo("reaches graph output 'last_hidden_state'");
        });
        assertThat(permutedDifference(bge, spec, 1)).isLessThan(1e-4);
    }

    @Test
    void withOutputsPermutableTheResidualStreamIsOneGroupAndOutputsArePermutedAlike() {
        Path bge = RealModels.bgeSmall();
        PermutationSpec spec = spec(bge, true);
        assertThat(spec.groups()).hasSize(49);
        int residual = 0;
        while (spec.groups().get(residual).size() != 384) {
            residual++;
        }
        assertThat(spec.groups().get(residual).members()).extracting(PermutationSpec.Member::weight)
                .contains("embeddings.word_embeddings.weight", "encoder.layer.11.output.LayerNorm.bias");
        Permutations perms = Permutations.random(spec, 5);
        Path out = dir.resolve("residual.onnx");
        try (OnnxModel m = OnnxModel.open(bge)) {
            ModelPermuter.write(m, perms, out, Map.of());
        }
        double[] original = VERIFIER.outputs(bge).get("last_hidden_state");
        double[] permuted = VERIFIER.outputs(out).get("last_hidden_state");
        int[] p = perms.get(residual);
        double worst = 0;
        double scale = 0;
        for (int row = 0; row < original.length / 384; row++) {
            for (int i = 0; i < 384; i++) {
                worst = Math.max(worst, Math.abs(permuted[row * 384 + i] - original[row * 384 + p[i]]));
                scale = Math.max(scale, Math.abs(original[row * 384 + i]));
            }
        }
        assertThat(worst / scale).isLessThan(1e-4);
    }

    /**
     * ONNX Runtime GenAI's decoder normalises with the fused RMSNorm contrib ops ({@code SimplifiedLayerNormalization},
     * {@code SkipSimplifiedLayerNormalization}): the residual stream is followed through them, from the embedding to
     * the head, and permuting it (with the MLPs) keeps the logits. The attention's axes stay, with the reason
     * (GroupQueryAttention is not followed).
     */
    @Test
    void genAisFusedRmsNormsCarryTheResidualStream() {
        Path genai = Decoders.model("genai/base/model.onnx");
        PermutationSpec spec = spec(genai, false);
        PermutationSpec.Group residual = spec.groups().stream().filter(g -> g.members().stream()
                .anyMatch(m -> m.weight().equals("model.embed_tokens.weight"))).findFirst().orElseThrow();
        assertThat(residual.size()).isEqualTo(32);
        assertThat(residual.members()).extracting(PermutationSpec.Member::toString).contains(
                "model.embed_tokens.weight[1]", "model.layers.0.input_layernorm.weight[0]",
                "model.layers.0.attn.qkv_proj.MatMul.weight[0]", "model.layers.1.attn.o_proj.MatMul.weight[1]",
                "model.layers.2.final_norm_layernorm.weight[0]", "lm_head.MatMul.weight[0]");
        assertThat(spec.fixed()).anySatisfy(f -> {
            assertThat(f.weight()).isEqualTo("model.layers.0.attn.qkv_proj.MatMul.weight");
            assertThat(f.reason()).contains("GroupQueryAttention");
        });
        Path out = dir.resolve("permuted/model.onnx");
        try (OnnxModel m = OnnxModel.open(genai)) {
            ModelPermuter.write(m, Permutations.random(spec, 4), out, Map.of());
        }
        float[] before = Decoders.kvLogits(genai, dev.graft.tensor.ElementType.FLOAT, 1);
        float[] after = Decoders.kvLogits(out, dev.graft.tensor.ElementType.FLOAT, 1);
        assertThat(Decoders.maxAbsDiff(before, after)).isLessThan(1e-4);
    }

    /**
     * LoRA input slots (Olive's) are the model's interface: an adapter fed at run time is not permuted, so the axes
     * the slots touch stay (the residual stream and the adapted projections' outputs), with the reason; the MLP
     * units remain groups, and permuting them keeps the logits.
     */
    @Test
    void loraInputSlotsFixTheAxesTheyTouch() {
        Path olive = Decoders.model("olive/model.onnx");
        PermutationSpec spec = spec(olive, false);
        assertThat(spec.groups()).extracting(PermutationSpec.Group::size).containsOnly(64);
        assertThat(spec.groups()).allSatisfy(g -> assertThat(g.members()).noneMatch(m -> m.weight().contains("lora_")));
        assertThat(spec.fixed()).anySatisfy(f -> {
            assertThat(f.weight()).isEqualTo("model.embed_tokens.weight");
            assertThat(f.reason()).startsWith("LoRA input slot 'model.layers.");
        });
        Path out = dir.resolve("permuted.onnx");
        try (OnnxModel m = OnnxModel.open(olive)) {
            ModelPermuter.write(m, Permutations.random(spec, 6), out, Map.of());
        }
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(out, dev.graft.tensor.ElementType.FLOAT)),
                Decoders.onTokens(Decoders.kvLogits(olive, dev.graft.tensor.ElementType.FLOAT)))).isLessThan(1e-4);
    }

    @Test
    void mlpHiddenUnitsFormOneGroup() {
        Path mlp = TinyModels.save(TinyModels.mlp(3), dir.resolve("mlp.onnx"));
        PermutationSpec spec = spec(mlp, false);
        assertThat(spec.groups()).singleElement().satisfies(g -> {
            assertThat(g.size()).isEqualTo(TinyModels.HIDDEN);
            assertThat(g.members()).extracting(PermutationSpec.Member::toString)
                    .containsExactlyInAnyOrder("W1[1]", "b1[0]", "W2[1]");
        });
        assertThat(permutedDifference(mlp, spec, 2)).isLessThan(1e-5);
    }

    /**
     * Conv → BatchNorm → Relu → MaxPool → depthwise Conv → Relu → Flatten → Gemm: the first conv's channels are
     * one group through normalisation, pooling and the depthwise conv, and reach the Gemm as the outer factor
     * of the flattened axis (channels × height × width).
     */
    @Test
    void convolutionalNetChannelsFollowNormalisationPoolingDepthwiseAndFlatten() {
        Path cnn = TinyModels.save(cnn(4), dir.resolve("cnn.onnx"));
        PermutationSpec spec = spec(cnn, false);
        assertThat(spec.groups()).singleElement().satisfies(g -> {
            assertThat(g.size()).isEqualTo(6);
            assertThat(g.members()).extracting(PermutationSpec.Member::toString).containsExactlyInAnyOrder(
                    "W1[0]", "b1[0]", "gamma[0]", "beta[0]", "mean[0]", "var[0]", "W2[0]", "b2[0]",
                    "W3[1] (factor 1 of 3)");
        });
        assertThat(spec.fixed()).extracting(PermutationSpec.FixedAxis::reason)
                .contains("node '/conv1' (Conv): kernel positions do not permute");
        assertThat(permutedDifference(cnn, spec, 3)).isLessThan(1e-5);
    }

    @Test
    void anOpGraftCannotFollowFixesTheAxesItTouchesAndSaysWhich() {
        ModelProto mlp = TinyModels.mlp(5);
        GraphProto.Builder g = mlp.getGraph().toBuilder();
        // a running sum over the hidden units does depend on their order
        g.addInitializer(TinyModels.int64s("axis", new long[] {1}));
        NodeProto cumsum = node("CumSum", "/layer.0/cumsum", new String[] {"h2", "axis"}, "h2c");
        g.addNode(3, cumsum);
        NodeProto gemm = g.getNode(4).toBuilder().setInput(0, "h2c").build();
        g.setNode(4, gemm);
        Path model = TinyModels.save(mlp.toBuilder().setGraph(g).build(), dir.resolve("cumsum.onnx"));
        PermutationSpec spec = spec(model, false);
        assertThat(spec.groups()).isEmpty();
        assertThat(spec.fixed()).anySatisfy(f -> {
            assertThat(f.weight()).isEqualTo("W1");
            assertThat(f.reason()).isEqualTo("node '/layer.0/cumsum' (CumSum) is not an op Graft can follow");
        });
    }

    static ModelProto cnn(long seed) {
        Random r = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("tiny_cnn")
                .addInput(input("x", 3, 8, 8))
                .addOutput(ValueInfoProto.newBuilder().setName("y"))
                .addInitializer(floats("W1", random(r, 6 * 3 * 3 * 3), 6, 3, 3, 3))
                .addInitializer(floats("b1", random(r, 6), 6))
                .addInitializer(floats("gamma", random(r, 6), 6))
                .addInitializer(floats("beta", random(r, 6), 6))
                .addInitializer(floats("mean", random(r, 6), 6))
                .addInitializer(floats("var", positive(r, 6), 6))
                .addInitializer(floats("W2", random(r, 6 * 3 * 3), 6, 1, 3, 3))
                .addInitializer(floats("b2", random(r, 6), 6))
                .addInitializer(floats("W3", random(r, 4 * 96), 4, 96))
                .addInitializer(floats("b3", random(r, 4), 4))
                .addNode(withInts(node("Conv", "/conv1", new String[] {"x", "W1", "b1"}, "c1"), "pads", 1, 1, 1, 1))
                .addNode(node("BatchNormalization", "/bn", new String[] {"c1", "gamma", "beta", "mean", "var"}, "n1"))
                .addNode(node("Relu", "/relu1", new String[] {"n1"}, "r1"))
                .addNode(withInts(withInts(node("MaxPool", "/pool", new String[] {"r1"}, "p1"),
                        "kernel_shape", 2, 2), "strides", 2, 2))
                .addNode(withInts(node("Conv", "/conv2", new String[] {"p1", "W2", "b2"}, "c2").toBuilder()
                        .addAttribute(intAttr("group", 6)).build(), "pads", 1, 1, 1, 1))
                .addNode(node("Relu", "/relu2", new String[] {"c2"}, "r2"))
                .addNode(node("Flatten", "/flatten", new String[] {"r2"}, "f"))
                .addNode(node("Gemm", "/fc", new String[] {"f", "W3", "b3"}, "y").toBuilder()
                        .addAttribute(intAttr("transB", 1)).build());
        return TinyModels.model(g);
    }

    private static float[] positive(Random r, int n) {
        float[] v = random(r, n);
        for (int i = 0; i < n; i++) {
            v[i] = Math.abs(v[i]) + 0.5f;
        }
        return v;
    }

    private static NodeProto withInts(NodeProto n, String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return n.toBuilder().addAttribute(a).build();
    }

    private static ValueInfoProto input(String name, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"));
        for (long d : dims) {
            shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

}
