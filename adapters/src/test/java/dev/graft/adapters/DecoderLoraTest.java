package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.index.GraphIndex;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.OnnxModel;
import dev.graft.tensor.BlockQuantization;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA on decoders as exported (the fixtures of {@code examples/recipes/decoders}): an adapter extracted from one
 * export applies to another export of the same model, Optimum's legacy merged decoder included, whose weights are
 * read inside the branches of an {@code If}.
 */
class DecoderLoraTest {
    @TempDir
    Path dir;

    @Test
    void anAdapterAppliesAlikeToTheOptimumAndTheLegacyMergedExport() {
        Path adapter = dir.resolve("licence-adapter");
        LoraExtract.Report extracted = licenceAdapter(adapter);
        assertThat(extracted.modules()).hasSize(15);
        Path optimum = dir.resolve("optimum.onnx");
        Path legacy = dir.resolve("legacy.onnx");
        LoraApply.to(Decoders.model("optimum/base/model.onnx")).adapter(adapter).writeTo(optimum);
        LoraApply.Report r = LoraApply.to(Decoders.DIR.resolve("legacy/decoder_model_merged.onnx")).adapter(adapter)
                .writeTo(legacy);
        assertThat(r.modules()).hasSize(15);
        float[] viaOptimum = Decoders.onTokens(Decoders.kvLogits(optimum, ElementType.FLOAT));
        float[] viaLegacy = Decoders.onTokens(Decoders.kvLogits(legacy, ElementType.FLOAT));
        assertThat(Decoders.maxAbsDiff(viaOptimum, viaLegacy)).isLessThan(1e-5);
        // and the adapter moved the base towards the fine-tune
        float[] base = Decoders.onTokens(Decoders.torchLogits("base"));
        float[] tuned = Decoders.onTokens(Decoders.torchLogits("licence"));
        assertThat(Decoders.maxAbsDiff(viaLegacy, tuned)).isLessThan(Decoders.maxAbsDiff(base, tuned));
    }

    /**
     * ONNX Runtime GenAI packs Q|K|V into one weight under an {@code attn} scope: a PEFT adapter for
     * {@code self_attn.q_proj}, {@code k_proj} and {@code v_proj} applies to the packed weight's columns, and the
     * result computes what the adapter applied to the Optimum export computes; an adapter extracted from two GenAI
     * builds names Hugging Face's modules.
     */
    @Test
    void anAdapterAppliesToGenAisPackedProjectionsAndIsExtractedUnderHuggingFaceNames() {
        Path adapter = dir.resolve("licence-adapter");
        licenceAdapter(adapter);
        Path optimum = dir.resolve("optimum.onnx");
        Path genai = dir.resolve("genai/model.onnx");
        LoraApply.to(Decoders.model("optimum/base/model.onnx")).adapter(adapter).writeTo(optimum);
        LoraApply.Report r = LoraApply.to(Decoders.model("genai/base/model.onnx")).adapter(adapter).writeTo(genai);
        assertThat(r.modules()).filteredOn(a -> a.weight().equals("model.layers.0.attn.qkv_proj.MatMul.weight"))
                .hasSize(3);
        float[] viaOptimum = Decoders.kvLogits(optimum, ElementType.FLOAT, 1);
        float[] viaGenai = Decoders.kvLogits(genai, ElementType.FLOAT, 1);
        assertThat(Decoders.maxAbsDiff(viaOptimum, viaGenai)).isLessThan(1e-4);

        LoraExtract.Report fromGenai = LoraExtract.from(Decoders.model("genai/base/model.onnx"),
                Decoders.model("genai/licence/model.onnx")).rank(8).writeTo(dir.resolve("genai-adapter"));
        LoraExtract.Report fromOptimum = licenceAdapter(dir.resolve("optimum-adapter"));
        assertThat(fromGenai.modules()).extracting(LoraExtract.Module::module)
                .containsExactlyInAnyOrderElementsOf(fromOptimum.modules().stream().map(LoraExtract.Module::module).toList())
                .contains("model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj");
    }

    /**
     * GenAI's int4 build takes the adapter as its float build does: the packed Q|K|V weight, quantized, gets each
     * module's update in its columns, and the result runs close to the adapted float build (within three times
     * what quantizing the base alone moves it).
     */
    @Test
    void anAdapterAppliesToGenAisInt4PackedProjections() {
        Path adapter = dir.resolve("licence-adapter");
        licenceAdapter(adapter);
        Path floats = dir.resolve("genai/model.onnx");
        Path int4 = dir.resolve("genai-int4/model.onnx");
        LoraApply.to(Decoders.model("genai/base/model.onnx")).adapter(adapter).writeTo(floats);
        LoraApply.Report r = LoraApply.to(Decoders.model("genai_int4/base/model.onnx")).adapter(adapter)
                .writeTo(int4);
        assertThat(r.modules()).filteredOn(a -> a.weight().equals("model.layers.0.attn.qkv_proj.MatMul.weight_Q4"))
                .hasSize(3);
        assertThat(r.quantization()).isNotEmpty();
        double adapted = Decoders.maxAbsDiff(Decoders.kvLogits(int4, ElementType.FLOAT, 1),
                Decoders.kvLogits(floats, ElementType.FLOAT, 1));
        double quantizing = Decoders.maxAbsDiff(
                Decoders.kvLogits(Decoders.model("genai_int4/base/model.onnx"), ElementType.FLOAT, 1),
                Decoders.kvLogits(Decoders.model("genai/base/model.onnx"), ElementType.FLOAT, 1));
        assertThat(adapted).isLessThan(3 * quantizing);
        float[] untouched = Decoders.kvLogits(Decoders.model("genai_int4/base/model.onnx"), ElementType.FLOAT, 1);
        assertThat(Decoders.maxAbsDiff(Decoders.kvLogits(int4, ElementType.FLOAT, 1), untouched))
                .isGreaterThan(1e-2); // the adapter did move it
    }

    /**
     * A tied embedding and head are one tensor: the head's LoRA, extracted from a tied base and fine-tune, counts
     * for the embedding too, and applying it updates both, so the result is still tied.
     */
    @Test
    void aLoraOnATiedHeadUpdatesTheEmbeddingToo() {
        Path adapter = dir.resolve("licence-adapter");
        LoraExtract.Report extracted = licenceAdapter(adapter);
        assertThat(extracted.uncaptured()).extracting(LoraExtract.Uncaptured::tensor)
                .doesNotContain("model.embed_tokens.weight");
        Path out = dir.resolve("applied.onnx");
        LoraApply.to(Decoders.model("optimum/base/model.onnx")).adapter(adapter).writeTo(out);
        try (OnnxModel m = OnnxModel.open(out); OnnxModel base = OnnxModel.open(Decoders.model("optimum/base/model.onnx"))) {
            assertThat(TiedWeights.of(m, GraphIndex.of(m))).extracting(TiedWeights.Tie::table)
                    .containsExactly("model.embed_tokens.weight");
            assertThat(m.weight("model.embed_tokens.weight").orElseThrow().toFloats())
                    .isNotEqualTo(base.weight("model.embed_tokens.weight").orElseThrow().toFloats());
        }
    }

    /**
     * An int4 {@code MatMulNBits} model takes a LoRA as its float export does: each updated weight is written as the
     * quantization (ONNX Runtime's rule) of its dequantized values plus the module's update, worked out here from the
     * adapter file and the base's codes, and the adapted model moves towards the fine-tune: with ONNX Runtime's
     * symmetric layout and with HQQ's float zero points.
     */
    @ParameterizedTest
    @ValueSource(strings = {"int4", "int4_hqq"})
    void anAdapterAppliesToAnInt4Model(String fixture) {
        Path adapter = dir.resolve("licence-adapter");
        licenceAdapter(adapter);
        Path base = Decoders.model(fixture + "/base/model.onnx");
        Path out = dir.resolve("int4.onnx");
        LoraApply.Report r = LoraApply.to(base).adapter(adapter).writeTo(out);
        assertThat(r.modules()).hasSize(15);
        assertThat(r.quantization()).hasSize(15).allSatisfy(e -> assertThat(e.relativeRms()).isBetween(0.0, 0.2));
        PeftAdapter peft = PeftAdapter.read(adapter);
        try (OnnxModel b = OnnxModel.open(base); OnnxModel o = OnnxModel.open(out)) {
            Map<String, QuantizedMatMul> before = QuantizedMatMul.byPart(b);
            Map<String, QuantizedMatMul> after = QuantizedMatMul.byPart(o);
            for (LoraModule m : peft.modules().values()) {
                String codes = m.name() + ".MatMul.weight_Q4"; // the fixture's names: the node's, then the part
                QuantizedMatMul q = before.get(codes);
                float[] w = q.dequantize();
                float[] d = m.delta();
                int n = q.quantization().n();
                for (int row = 0; row < m.out(); row++) {
                    for (int i = 0; i < m.in(); i++) {
                        w[i * n + row] += d[row * m.in() + i];
                    }
                }
                BlockQuantization.Quantized expected = q.quantization().quantize(w);
                BlockQuantization.Quantized written = after.get(codes).stored();
                assertThat(written.codes()).as(codes).isEqualTo(expected.codes());
                assertThat(written.scales()).as(codes).isEqualTo(expected.scales());
                assertThat(written.zeroPoints()).as(codes).isEqualTo(expected.zeroPoints());
            }
        }
        float[] tuned = Decoders.onTokens(Decoders.torchLogits("licence"));
        float[] adapted = Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT));
        float[] int4 = Decoders.onTokens(Decoders.kvLogits(base, ElementType.FLOAT));
        assertThat(Decoders.maxAbsDiff(adapted, tuned)).isLessThan(Decoders.maxAbsDiff(int4, tuned));
    }

    /**
     * A LoRA extracted from two int4 models is the difference of their dequantized weights (exact at full rank),
     * and their scales count as part of the weights captured, not as uncaptured changes.
     */
    @Test
    void anAdapterIsExtractedFromTwoInt4Models() {
        Path base = Decoders.model("int4/base/model.onnx");
        Path tuned = Decoders.model("int4/licence/model.onnx");
        Path adapter = dir.resolve("int4-adapter");
        LoraExtract.Report r = LoraExtract.from(base, tuned).rank(64).writeTo(adapter);
        assertThat(r.modules()).hasSize(15);
        assertThat(r.uncaptured()).extracting(LoraExtract.Uncaptured::tensor)
                .noneMatch(t -> t.contains("weight_scales"));
        LoraModule q = PeftAdapter.read(adapter).modules().get("model.layers.0.self_attn.q_proj");
        try (OnnxModel b = OnnxModel.open(base); OnnxModel t = OnnxModel.open(tuned)) {
            String codes = "model.layers.0.self_attn.q_proj.MatMul.weight_Q4";
            float[] wb = QuantizedMatMul.byPart(b).get(codes).dequantize();
            float[] wt = QuantizedMatMul.byPart(t).get(codes).dequantize();
            float[] d = q.delta();
            int n = q.out();
            for (int out = 0; out < q.out(); out++) {
                for (int in = 0; in < q.in(); in++) {
                    assertThat(d[out * q.in() + in]).isCloseTo(wt[in * n + out] - wb[in * n + out],
                            org.assertj.core.api.Assertions.within(1e-4f));
                }
            }
        }
    }

    /**
     * Extraction pairs weights by module, as merges do: from the untied export of the base (its linear weights
     * numbered apart from the tied export's) to a tied fine-tune, it gives the adapter extracted from the tied base.
     */
    @Test
    void anAdapterIsExtractedAcrossExportsThatNumberTheirWeightsApart() {
        Path tuned = Decoders.model("optimum/licence/model.onnx");
        LoraExtract.Report untied = LoraExtract.from(Decoders.model("untied/model.onnx"), tuned).rank(8)
                .writeTo(dir.resolve("from-untied"));
        LoraExtract.Report tied = LoraExtract.from(Decoders.model("optimum/base/model.onnx"), tuned).rank(8)
                .writeTo(dir.resolve("from-tied"));
        assertThat(untied.modules()).extracting(LoraExtract.Module::module)
                .containsExactlyElementsOf(tied.modules().stream().map(LoraExtract.Module::module).toList());
        Map<String, LoraModule> a = PeftAdapter.read(dir.resolve("from-untied")).modules();
        Map<String, LoraModule> b = PeftAdapter.read(dir.resolve("from-tied")).modules();
        for (String module : b.keySet()) {
            assertThat(Decoders.maxAbsDiff(a.get(module).delta(), b.get(module).delta())).as(module).isLessThan(1e-5);
        }
    }

    /**
     * Olive's LoRA input slots are an adapter's targets. {@code lora export} onto the Olive-style model adds no
     * branch and writes the adapter under the slots' names ({@code ….q_proj.lora_A.weight}); ONNX Runtime running
     * the model with that adapter active computes what the adapter merged into the weights computes, and without it
     * the base; the file reads back as the adapter. {@code lora apply} merges into the weight of PEFT's {@code base_layer}, as into the plain export's,
     * and leaves the slots as they were.
     */
    @Test
    void anAdapterTargetsOlivesLoraInputSlots() throws Exception {
        PeftAdapter full = PeftAdapter.read(licenceAdapterFolder());
        Map<String, LoraModule> qv = new java.util.LinkedHashMap<>(full.modules());
        qv.keySet().removeIf(m -> !m.endsWith("q_proj") && !m.endsWith("v_proj"));
        Path adapter = dir.resolve("qv-adapter");
        new PeftAdapter(full.config(), qv, Map.of()).write(adapter);
        Path olive = Decoders.model("olive/model.onnx");
        Path graph = dir.resolve("runtime/model.onnx");
        assertThat(LoraRuntime.graph(olive, qv.keySet(), Map.of(), graph)).isEmpty();
        Path file = dir.resolve("runtime/qv.onnx_adapter");
        LoraRuntime.export(PeftAdapter.read(adapter), 1.0, graph, file);
        Path applied = dir.resolve("applied.onnx");
        Path plain = dir.resolve("plain.onnx");
        LoraApply.Report r = LoraApply.to(olive).adapter(adapter).writeTo(applied);
        // the adapter file reads as the adapter (scale folded in), and applies as the folder does
        LoraApply.to(Decoders.model("optimum/base/model.onnx")).adapter(file).writeTo(plain);
        PeftAdapter back = PeftAdapter.read(file);
        assertThat(back.modules().keySet()).containsExactlyElementsOf(qv.keySet());
        for (LoraModule m : qv.values()) {
            assertThat(Decoders.maxAbsDiff(back.modules().get(m.name()).delta(), m.delta())).as(m.name())
                    .isLessThan(1e-6);
        }
        assertThat(r.modules()).hasSize(4);
        try (OnnxModel m = OnnxModel.open(applied)) {
            assertThat(dev.graft.index.LoraSlots.of(m).byModule()).hasSize(4);
        }
        try (ai.onnxruntime.OrtLoraAdapter a = ai.onnxruntime.OrtLoraAdapter.create(file.toString());
             ai.onnxruntime.OrtSession.RunOptions with = new ai.onnxruntime.OrtSession.RunOptions();
             ai.onnxruntime.OrtSession.RunOptions none = new ai.onnxruntime.OrtSession.RunOptions()) {
            with.addActiveLoraAdapter(a);
            float[] merged = Decoders.logitsWithEmptyCache(applied, none);
            assertThat(Decoders.maxAbsDiff(merged, Decoders.logitsWithEmptyCache(plain, none))).isLessThan(1e-5);
            float[] base = Decoders.logitsWithEmptyCache(Decoders.model("optimum/base/model.onnx"), none);
            assertThat(Decoders.maxAbsDiff(merged, base)).isGreaterThan(1e-2); // the adapter does change the logits
            assertThat(Decoders.maxAbsDiff(Decoders.logitsWithEmptyCache(graph, with), merged)).isLessThan(1e-4);
            assertThat(Decoders.maxAbsDiff(Decoders.logitsWithEmptyCache(graph, none), base)).isLessThan(1e-5);
        }
    }

    private Path licenceAdapterFolder() {
        Path folder = dir.resolve("licence-adapter");
        licenceAdapter(folder);
        return folder;
    }

    /** The rank-8 adapter from the Optimum export of the base to its licence fine-tune, written to {@code folder}. */
    private static LoraExtract.Report licenceAdapter(Path folder) {
        return LoraExtract.from(Decoders.model("optimum/base/model.onnx"), Decoders.model("optimum/licence/model.onnx"))
                .rank(8).writeTo(folder);
    }
}
