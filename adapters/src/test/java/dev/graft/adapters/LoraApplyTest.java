package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraApplyTest {
    private static final String QUERY = "encoder.layer.0.attention.self.query";
    private static final String UP = "encoder.layer.3.intermediate.dense";

    @TempDir
    Path dir;

    private static LoraModule random(String name, int rank, int in, int out, double scale, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[rank * in];
        float[] b = new float[out * rank];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) (0.01 * r.nextGaussian());
        }
        return new LoraModule(name, rank, in, out, a, b, scale);
    }

    /** A PEFT adapter on bge's layer-0 query and layer-3 FFN up-projection, rank 4, alpha 8, with a query bias. */
    private Path adapter(String name, long seed) {
        PeftConfig config = new PeftConfig(4, 8, false, false, Map.of(), Map.of(), List.of("query", "dense"),
                "lora_only", Map.of());
        LoraModule q = random(QUERY, 4, 384, 384, config.scale(QUERY), seed);
        LoraModule up = random(UP, 4, 384, 1536, config.scale(UP), seed + 1);
        float[] bias = new float[384];
        bias[7] = 3;
        Path folder = dir.resolve(name);
        new PeftAdapter(config, Map.of(q.name(), q, up.name(), up), Map.of(QUERY, bias)).write(folder);
        return folder;
    }

    /** The merged weight is W + w·s·(B·A)ᵀ for bge's [in, out] MatMul weights, computed here entry by entry. */
    @Test
    void appliedWeightsAreTheBasePlusTheScaledTransposedUpdate() {
        Path bge = RealModels.bgeSmall();
        Path folder = adapter("a", 1);
        Path merged = dir.resolve("merged.onnx");
        LoraApply.Report r = LoraApply.to(bge).adapter(folder, 0.5).writeTo(merged);
        assertThat(r.modules()).extracting(LoraApply.Applied::weight)
                .containsExactlyInAnyOrder("onnx::MatMul_1525", "onnx::MatMul_1575");
        assertThat(r.biases()).containsExactly(QUERY + ".bias");
        PeftAdapter adapter = PeftAdapter.read(folder);
        LoraModule q = adapter.modules().get(QUERY);
        try (OnnxModel base = OnnxModel.open(bge); OnnxModel out = OnnxModel.open(merged)) {
            float[] w = base.weight("onnx::MatMul_1525").orElseThrow().toFloats();
            float[] got = out.weight("onnx::MatMul_1525").orElseThrow().toFloats();
            for (int i = 0; i < 384; i += 7) {
                for (int o = 0; o < 384; o += 5) {
                    double d = 0;
                    for (int k = 0; k < 4; k++) {
                        d += q.b()[o * 4 + k] * q.a()[k * 384 + i];
                    }
                    assertThat(got[i * 384 + o]).isCloseTo((float) (w[i * 384 + o] + 0.5 * 2.0 * d), within(1e-5f));
                }
            }
            assertThat(out.weight(QUERY + ".bias").orElseThrow().toFloats()[7]).isEqualTo(3);
            assertThat(out.weight("onnx::MatMul_1526").orElseThrow().toFloats())
                    .containsExactly(base.weight("onnx::MatMul_1526").orElseThrow().toFloats());
        }
    }

    /**
     * An adapter laid out by hand from PEFT's format (config JSON, safetensors bytes) for bge's layer-0 query:
     * rank 1, alpha 3, A = 2·e₅ and B = 1.5·e₇, so ΔW = 3·B·A has the single entry 9 at output 7, input 5, which
     * in bge's [in, out] MatMul weight is entry [5][7].
     */
    @Test
    void anAdapterWrittenByHandFromThePeftFormatChangesExactlyTheEntryItShould() throws java.io.IOException {
        Path folder = java.nio.file.Files.createDirectories(dir.resolve("by-hand"));
        java.nio.file.Files.writeString(folder.resolve("adapter_config.json"),
                "{\"peft_type\":\"LORA\",\"r\":1,\"lora_alpha\":3,\"target_modules\":[\"query\"]}");
        String header = "{\"base_model.model." + QUERY + ".lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[1,384],"
                + "\"data_offsets\":[0,1536]},\"base_model.model." + QUERY + ".lora_B.weight\":{\"dtype\":\"F32\","
                + "\"shape\":[384,1],\"data_offsets\":[1536,3072]}}";
        byte[] json = header.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8 + json.length + 3072)
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        int data = 8 + json.length;
        b.putFloat(data + 4 * 5, 2f);
        b.putFloat(data + 1536 + 4 * 7, 1.5f);
        java.nio.file.Files.write(folder.resolve("adapter_model.safetensors"), b.array());
        Path merged = dir.resolve("merged.onnx");
        LoraApply.to(RealModels.bgeSmall()).adapter(folder).writeTo(merged);
        try (OnnxModel base = OnnxModel.open(RealModels.bgeSmall()); OnnxModel out = OnnxModel.open(merged)) {
            float[] w = base.weight("onnx::MatMul_1525").orElseThrow().toFloats();
            float[] got = out.weight("onnx::MatMul_1525").orElseThrow().toFloats();
            for (int i = 0; i < w.length; i++) {
                assertThat(got[i]).isEqualTo(i == 5 * 384 + 7 ? w[i] + 9f : w[i]);
            }
        }
    }

    /** Two adapters applied together equal the first applied, then the second applied to the result. */
    @Test
    void adaptersAppliedTogetherEqualAdaptersAppliedOneAfterTheOther() {
        Path bge = RealModels.bgeSmall();
        Path a = adapter("a", 1);
        Path b = adapter("b", 5);
        Path both = dir.resolve("both.onnx");
        Path first = dir.resolve("first.onnx");
        Path second = dir.resolve("second.onnx");
        LoraApply.to(bge).adapter(a, 0.3).adapter(b, 0.7).writeTo(both);
        LoraApply.to(bge).adapter(a, 0.3).writeTo(first);
        LoraApply.to(first).adapter(b, 0.7).writeTo(second);
        try (OnnxModel x = OnnxModel.open(both); OnnxModel y = OnnxModel.open(second)) {
            float[] wx = x.weight("onnx::MatMul_1575").orElseThrow().toFloats();
            float[] wy = y.weight("onnx::MatMul_1575").orElseThrow().toFloats();
            for (int i = 0; i < wx.length; i++) {
                assertThat(wx[i]).isCloseTo(wy[i], within(1e-6f));
            }
        }
    }

    @Test
    void modulesTheGraphDoesNotHaveAndUpdatesThatDoNotFitAreRefused() {
        Path bge = RealModels.bgeSmall();
        PeftConfig config = PeftConfig.of(2, 2, List.of("query"));
        Path wrongName = dir.resolve("wrong-name");
        LoraModule m = random("encoder.layer.0.attention.self.qurey", 2, 384, 384, 1, 3);
        new PeftAdapter(config, Map.of(m.name(), m), Map.of()).write(wrongName);
        assertThatThrownBy(() -> LoraApply.to(bge).adapter(wrongName).writeTo(dir.resolve("x.onnx")))
                .isInstanceOf(GraftException.class).hasMessageContaining("'encoder.layer.0.attention.self.qurey'")
                .hasMessageContaining("the closest").hasMessageContaining("encoder.layer.0.attention.self.query");
        Path wrongShape = dir.resolve("wrong-shape");
        LoraModule s = random(QUERY, 2, 384, 1536, 1, 3);
        new PeftAdapter(config, Map.of(s.name(), s), Map.of()).write(wrongShape);
        assertThatThrownBy(() -> LoraApply.to(bge).adapter(wrongShape).writeTo(dir.resolve("x.onnx")))
                .hasMessageContaining(QUERY).hasMessageContaining("384 → 1536").hasMessageContaining("384 → 384");
        assertThat(dir.resolve("x.onnx")).doesNotExist();
    }
}
