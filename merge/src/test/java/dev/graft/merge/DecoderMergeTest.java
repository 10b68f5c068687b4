package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.align.Alignment;
import dev.graft.IncompatibleModelsException;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.GraphIndex;
import dev.graft.index.LoraSlots;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergeReport;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Merges of decoders exported by TorchScript (the fixtures of {@code examples/recipes/decoders}), whose linear
 * weights have anonymous names numbered by a counter: the tied and untied exports of one model number them
 * differently, and are paired by module and role.
 */
class DecoderMergeTest {
    @TempDir
    Path dir;

    @Test
    void tiedAndUntiedExportsOfOneModelMergeIntoThatModel() {
        Path out = dir.resolve("merged.onnx");
        MergeReport r = Graft.merge().model(Decoders.model("optimum/base/model.onnx"), 1)
                .model(Decoders.model("untied/model.onnx"), 1).method(new Linear()).writeTo(out);
        assertThat(r.renamed()).hasSize(15);
        assertThat(r.renamed()).extracting(MergePlan.Renamed::module)
                .contains("model.layers.0.self_attn.q_proj, MatMul B [in,out]", "lm_head, MatMul B [in,out]");
        assertThat(r.inputs().get(0).file()).isNotEqualTo(r.inputs().get(1).file()); // paths, not "model.onnx" twice
        assertThat(Decoders.diffFromTorch(out, "base")).isLessThan(1e-4);
    }

    /**
     * Weight matching pairs weights as merges do: aligning the untied export of a decoder to its tied export (linear
     * weights numbered apart, some names shared by different modules) finds that nothing moves, where pairing by
     * name compared unrelated weights or found none.
     */
    @Test
    void weightMatchingAcrossExportsThatNumberTheirWeightsApartMovesNothing() {
        Path out = dir.resolve("aligned.onnx");
        Alignment.Result r = Alignment.weightMatching().alignTo(Decoders.model("untied/model.onnx"),
                Decoders.model("optimum/base/model.onnx"), out);
        assertThat(r.report().groups()).isNotEmpty().allSatisfy(g -> assertThat(g.moved()).as(g.group()).isZero());
        assertThat(Decoders.diffFromTorch(out, "base")).isLessThan(1e-4);
    }

    /** PLeaS pairs the two exports' weights the same way (B is read under A's names): the merge is the model. */
    @Test
    void pleasOfTheTiedAndUntiedExportsOfOneModelIsThatModel() {
        Path out = dir.resolve("pleas.onnx");
        dev.graft.pleas.Pleas.merge(Decoders.model("optimum/base/model.onnx"), Decoders.model("untied/model.onnx"))
                .calibration(dev.graft.data.Calibration.text(Decoders.DIR.resolve("licence_test.txt"),
                        Decoders.DIR.resolve("tokenizer.json"), 8, 32))
                .writeTo(out);
        assertThat(Decoders.diffFromTorch(out, "base")).isLessThan(2e-3);
    }

    /**
     * A model with LoRA input slots as Olive writes them (q_proj and v_proj of both layers, rank-0 defaults, base
     * weights under PEFT's {@code base_layer}) merges as its plain export does: the slots' defaults are copied, not
     * merged, and the merge keeps its slots. As a later model, its slots are ignored.
     */
    @Test
    void aModelWithLoraInputSlotsMergesAsItsPlainExportAndKeepsItsSlots() {
        Path olive = dir.resolve("olive.onnx");
        Path plain = dir.resolve("plain.onnx");
        Path later = dir.resolve("later.onnx");
        Path laterPlain = dir.resolve("later-plain.onnx");
        MergeReport r = Graft.merge().base(Decoders.model("olive/model.onnx"))
                .model(Decoders.model("optimum/licence/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(olive);
        Graft.merge().base(Decoders.model("optimum/base/model.onnx"))
                .model(Decoders.model("optimum/licence/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(plain);
        MergeReport l = Graft.merge().base(Decoders.model("optimum/licence/model.onnx"))
                .model(Decoders.model("olive/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(later);
        Graft.merge().base(Decoders.model("optimum/licence/model.onnx"))
                .model(Decoders.model("optimum/base/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(laterPlain);
        assertThat(r.unmerged()).filteredOn(u -> u.tensor().contains(".lora_")).hasSize(8)
                .allSatisfy(u -> assertThat(u.reason()).startsWith("default of a LoRA input slot"));
        assertThat(l.unmerged()).filteredOn(u -> u.tensor().contains(".lora_")).hasSize(8);
        assertThat(r.renamed()).isEmpty();
        float[] expected = Decoders.onTokens(Decoders.kvLogits(plain, ElementType.FLOAT));
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(olive, ElementType.FLOAT)), expected))
                .isLessThan(1e-5);
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(later, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.kvLogits(laterPlain, ElementType.FLOAT)))).isLessThan(1e-5);
        try (OnnxModel m = OnnxModel.open(olive)) {
            assertThat(LoraSlots.of(m).byModule().keySet()).containsExactly("model.layers.0.self_attn.q_proj",
                    "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj",
                    "model.layers.1.self_attn.v_proj");
            assertThat(GraphIndex.of(m).get("model.layers.0.self_attn.v_proj.lora_B.weight").orElseThrow().role())
                    .isEqualTo(dev.graft.index.WeightRole.LORA_SLOT);
        }
    }

    /** Optimum's legacy merged decoder (weights read inside an If's branches) merges as its plain export does. */
    @Test
    void aLegacyMergedDecoderMergesAsItsPlainExport() {
        Path legacy = dir.resolve("legacy.onnx");
        Path plain = dir.resolve("plain.onnx");
        MergeReport r = Graft.merge().base(Decoders.DIR.resolve("legacy/decoder_model_merged.onnx"))
                .model(Decoders.model("optimum/licence/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(legacy);
        Graft.merge().base(Decoders.model("optimum/base/model.onnx"))
                .model(Decoders.model("optimum/licence/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new Ties()).parameter("density", 0.5).writeTo(plain);
        assertThat(r.layers()).extracting(l -> l.layer()).contains("layer 0", "layer 1");
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(legacy, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.kvLogits(plain, ElementType.FLOAT)))).isLessThan(1e-5);
    }

    @Test
    void aFineTuneMergesWithEitherExportOfItsBaseAlike() {
        Path withTied = dir.resolve("tied.onnx");
        Path withUntied = dir.resolve("untied.onnx");
        Path licence = Decoders.model("optimum/licence/model.onnx");
        Graft.merge().model(licence, 1).model(Decoders.model("optimum/base/model.onnx"), 1).method(new Linear())
                .writeTo(withTied);
        Graft.merge().model(licence, 1).model(Decoders.model("untied/model.onnx"), 1).method(new Linear())
                .writeTo(withUntied);
        try (OnnxModel a = OnnxModel.open(withTied); OnnxModel b = OnnxModel.open(withUntied)) {
            for (Weight w : a.initializers()) {
                assertThat(b.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
    }

    /**
     * An int4 merge is the merge of the dequantized weights, quantized again as they were stored: here with
     * dequantization and ONNX Runtime's symmetric 4-bit rule written out in the test, from the format's definition.
     */
    @Test
    void anInt4MergeIsTheFloatMergeOfItsWeightsQuantizedAgain() {
        int4MergeIsTheFloatMergeQuantizedAgain("int4", "optimum", 2);
    }

    /** The same for ONNX Runtime GenAI's int4 layout: packed Q|K|V and the head quantized, external data. */
    @Test
    void aGenAiInt4MergeIsTheFloatMergeOfItsWeightsQuantizedAgain() {
        int4MergeIsTheFloatMergeQuantizedAgain("genai_int4", "genai", 1);
    }

    /**
     * A linear merge of the base and licence models of layout {@code int4} equals the independent computation, and
     * runs (through {@code rows} samples: GroupQueryAttention takes one with several new tokens) close to the merge
     * of the float models of layout {@code floats}.
     */
    private void int4MergeIsTheFloatMergeQuantizedAgain(String int4, String floats, int rows) {
        Path out = dir.resolve(int4 + "/model.onnx");
        Path a = Decoders.model(int4 + "/base/model.onnx");
        Path b = Decoders.model(int4 + "/licence/model.onnx");
        MergeReport r = Graft.merge().model(a, 1).model(b, 1).method(new Linear()).writeTo(out);
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b); OnnxModel mo = OnnxModel.open(out)) {
            assertThat(r.quantization()).hasSize(QuantizedMatMul.find(ma).size())
                    .allSatisfy(e -> assertThat(e.relativeRms()).isBetween(0.01, 0.2));
            for (QuantizedMatMul q : QuantizedMatMul.find(ma)) {
                int k = q.quantization().k();
                int n = q.quantization().n();
                float[] wa = dequantize(bytes(q.codes()), q.scales().toFloats(), null, k, n);
                float[] wb = dequantize(bytes(mb.weight(q.codes().name()).orElseThrow()),
                        mb.weight(q.scales().name()).orElseThrow().toFloats(), null, k, n);
                float[] mean = new float[k * n];
                for (int i = 0; i < mean.length; i++) {
                    mean[i] = (wa[i] + wb[i]) / 2;
                }
                float[] scales = new float[n * (k / 16)];
                byte[] codes = quantize(mean, k, n, scales);
                assertThat(bytes(mo.weight(q.codes().name()).orElseThrow())).as(q.node()).containsExactly(codes);
                assertThat(mo.weight(q.scales().name()).orElseThrow().toFloats()).as(q.node()).containsExactly(scales);
            }
        }
        // and it runs through its cache, close to the merge of the float models it was quantized from
        Path merged = dir.resolve(floats + "/model.onnx");
        Graft.merge().model(Decoders.model(floats + "/base/model.onnx"), 1)
                .model(Decoders.model(floats + "/licence/model.onnx"), 1).method(new Linear()).writeTo(merged);
        double quantized = Decoders.maxAbsDiff(logits(out, rows), logits(merged, rows));
        double base = Decoders.maxAbsDiff(logits(a, rows), logits(Decoders.model(floats + "/base/model.onnx"), rows));
        assertThat(quantized).isLessThan(3 * base);
    }

    /** The logits of the real tokens of the first {@code rows} samples (1 or 2), through the cache. */
    private static float[] logits(Path model, int rows) {
        float[] all = Decoders.kvLogits(model, ElementType.FLOAT, rows);
        return rows == 2 ? Decoders.onTokens(all) : all;
    }

    /**
     * The same with float zero points fitted per block (ONNX Runtime's HQQ quantizer's layout): dequantized as
     * {@code (q − zp)·scale}, merged, and quantized again round-to-nearest over each block's range with an
     * unrounded zero point, a block equal to the first model's keeping its stored form; the result runs close to
     * the merge of the float models.
     */
    @Test
    void anInt4MergeWithFloatZeroPointsIsTheFloatMergeQuantizedAgain() {
        Path out = dir.resolve("hqq/model.onnx");
        Path a = Decoders.model("int4_hqq/base/model.onnx");
        Path b = Decoders.model("int4_hqq/licence/model.onnx");
        MergeReport r = Graft.merge().model(a, 1).model(b, 1).method(new Linear()).writeTo(out);
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b); OnnxModel mo = OnnxModel.open(out)) {
            assertThat(QuantizedMatMul.find(ma)).hasSize(15).allSatisfy(q -> assertThat(q.zeroPoints()).isNotNull());
            assertThat(r.quantization()).hasSize(15).allSatisfy(e -> assertThat(e.relativeRms()).isBetween(0.01, 0.2));
            for (QuantizedMatMul q : QuantizedMatMul.find(ma)) {
                int k = q.quantization().k();
                int n = q.quantization().n();
                float[] za = q.zeroPoints().toFloats();
                float[] wa = dequantize(bytes(q.codes()), q.scales().toFloats(), za, k, n);
                float[] wb = dequantize(bytes(mb.weight(q.codes().name()).orElseThrow()),
                        mb.weight(q.scales().name()).orElseThrow().toFloats(),
                        mb.weight(q.zeroPoints().name()).orElseThrow().toFloats(), k, n);
                float[] mean = new float[k * n];
                for (int i = 0; i < mean.length; i++) {
                    mean[i] = (wa[i] + wb[i]) / 2;
                }
                float[] scales = q.scales().toFloats();
                float[] zeroPoints = za.clone();
                byte[] codes = bytes(q.codes());
                requantizeChangedBlocks(mean, wa, k, n, codes, scales, zeroPoints);
                assertThat(bytes(mo.weight(q.codes().name()).orElseThrow())).as(q.node()).containsExactly(codes);
                assertThat(mo.weight(q.scales().name()).orElseThrow().toFloats()).as(q.node()).containsExactly(scales);
                assertThat(mo.weight(q.zeroPoints().name()).orElseThrow().toFloats()).as(q.node())
                        .containsExactly(zeroPoints);
            }
        }
        Path merged = dir.resolve("optimum/model.onnx");
        Graft.merge().model(Decoders.model("optimum/base/model.onnx"), 1)
                .model(Decoders.model("optimum/licence/model.onnx"), 1).method(new Linear()).writeTo(merged);
        double quantized = Decoders.maxAbsDiff(logits(out, 2), logits(merged, 2));
        double base = Decoders.maxAbsDiff(logits(a, 2), logits(Decoders.model("optimum/base/model.onnx"), 2));
        assertThat(quantized).isLessThan(3 * base);
    }

    /**
     * Each block of 16 of {@code w} that differs from {@code stored} (both {@code [K, N]}) quantized again in place
     * of the stored codes, scales and float zero points: scale (max − min)/15 (a constant block's range widened to
     * 0), zero point −min/scale, codes clamp(round(w/scale + zp)), halves away from 0.
     */
    private static void requantizeChangedBlocks(float[] w, float[] stored, int k, int n, byte[] codes, float[] scales,
                                                float[] zeroPoints) {
        for (int c = 0; c < n; c++) {
            for (int b = 0; b < k / 16; b++) {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                boolean same = true;
                for (int i = b * 16; i < b * 16 + 16; i++) {
                    min = Math.min(min, w[i * n + c]);
                    max = Math.max(max, w[i * n + c]);
                    same &= w[i * n + c] == stored[i * n + c];
                }
                if (same) {
                    continue;
                }
                if (min == max) {
                    min = Math.min(min, 0f);
                    max = Math.max(max, 0f);
                }
                float scale = (max - min) / 15f;
                float zp = scale != 0 ? -min / scale : 0f;
                scales[c * (k / 16) + b] = scale;
                zeroPoints[c * (k / 16) + b] = zp;
                float reciprocal = scale != 0 ? 1f / scale : 0f;
                for (int i = b * 16; i < b * 16 + 16; i++) {
                    float x = w[i * n + c] * reciprocal + zp;
                    int q = (int) Math.min(15, Math.max(0, Math.signum(x) * Math.floor(Math.abs((double) x) + 0.5)));
                    int at = c * (k / 2) + i / 2;
                    codes[at] = (byte) (i % 2 == 0 ? (codes[at] & 0xf0) | q : (codes[at] & 0x0f) | q << 4);
                }
            }
        }
    }

    /**
     * Merging an int4 model with itself writes its codes, scales and zero points back bit for bit: with ONNX
     * Runtime's symmetric rule, which reproduces itself, and with HQQ's fitted float zero points, which are kept.
     */
    @Test
    void anUnchangedInt4ModelIsWrittenBackBitForBit() {
        for (String fixture : new String[] {"int4", "int4_hqq"}) {
            Path out = dir.resolve(fixture + ".onnx");
            Path a = Decoders.model(fixture + "/base/model.onnx");
            MergeReport r = Graft.merge().model(a, 1).model(a, 1).method(new Linear()).writeTo(out);
            assertThat(r.quantization()).hasSize(15).allSatisfy(e -> assertThat(e.relativeRms()).isZero());
            try (OnnxModel in = OnnxModel.open(a); OnnxModel mo = OnnxModel.open(out)) {
                for (Weight w : in.initializers()) {
                    assertThat(bytes(mo.weight(w.name()).orElseThrow())).as(w.name()).containsExactly(bytes(w));
                }
            }
        }
    }

    @Test
    void anInt4ModelDoesNotMergeWithAFloatOne() {
        Path out = dir.resolve("mixed.onnx");
        assertThatThrownBy(() -> Graft.merge().model(Decoders.model("int4/base/model.onnx"), 1)
                .model(Decoders.model("optimum/licence/model.onnx"), 1).method(new Linear()).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class)
                .hasMessageContaining("optimum/licence/model.onnx")
                .hasMessageContaining("model.layers.0.self_attn.q_proj.MatMul.weight_Q4");
        assertThat(dir.toFile().list()).isEmpty();
    }

    /**
     * {@code (q − zp)·scale}, q the 4-bit codes of column c's blocks of 16 along K, low nibble first, zp a float per
     * block or 8 where {@code zeroPoints} is null.
     */
    private static float[] dequantize(byte[] codes, float[] scales, float[] zeroPoints, int k, int n) {
        float[] w = new float[k * n];
        for (int c = 0; c < n; c++) {
            for (int i = 0; i < k; i++) {
                int b = codes[c * (k / 2) + i / 2] & 0xff;
                int q = i % 2 == 0 ? b & 0xf : b >> 4;
                w[i * n + c] = (q - (zeroPoints == null ? 8f : zeroPoints[c * (k / 16) + i / 16]))
                        * scales[c * (k / 16) + i / 16];
            }
        }
        return w;
    }

    /** ONNX Runtime's symmetric 4-bit rule, blocks of 16: fills {@code scales}, returns the codes. */
    private static byte[] quantize(float[] w, int k, int n, float[] scales) {
        byte[] codes = new byte[n * k / 2];
        for (int c = 0; c < n; c++) {
            for (int b = 0; b < k / 16; b++) {
                float min = Float.MAX_VALUE;
                float max = -Float.MAX_VALUE;
                for (int i = b * 16; i < b * 16 + 16; i++) {
                    min = Math.min(min, w[i * n + c]);
                    max = Math.max(max, w[i * n + c]);
                }
                float scale = (Math.abs(max) > Math.abs(min) ? max : min) / -8f;
                scales[c * (k / 16) + b] = scale;
                float reciprocal = scale != 0 ? 1f / scale : 0f;
                for (int i = b * 16; i < b * 16 + 16; i++) {
                    float x = w[i * n + c] * reciprocal + 8f;
                    int q = (int) Math.min(15, Math.max(0, Math.signum(x) * Math.floor(Math.abs((double) x) + 0.5)));
                    codes[c * (k / 2) + i / 2] |= (byte) (i % 2 == 0 ? q : q << 4);
                }
            }
        }
        return codes;
    }

    private static byte[] bytes(Weight w) {
        java.nio.ByteBuffer b = w.bytes();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /**
     * DARE draws its masks per tensor; the embedding and its transposed copy for the head are one tensor, so the
     * merged head must still be the merged embedding transposed, entry for entry.
     */
    @Test
    void aTiedHeadStaysTiedThroughARandomMerge() {
        Path out = dir.resolve("dare.onnx");
        MergeReport r = Graft.merge().base(Decoders.model("optimum/base/model.onnx"))
                .model(Decoders.model("optimum/licence/model.onnx"), 1).model(Decoders.model("optimum/c/model.onnx"), 1)
                .method(new DareTies()).parameter("density", 0.5).seed(3).writeTo(out);
        try (OnnxModel m = OnnxModel.open(out)) {
            GraphIndex index = GraphIndex.of(m);
            Weight head = index.weights().stream().filter(w -> w.modulePath().equals("lm_head")).findFirst()
                    .orElseThrow().weight();
            float[] table = m.weight("model.embed_tokens.weight").orElseThrow().toFloats();
            float[] copy = head.toFloats();
            int vocab = (int) head.shape()[1];
            int hidden = (int) head.shape()[0];
            int differing = 0;
            for (int v = 0; v < vocab; v++) {
                for (int h = 0; h < hidden; h++) {
                    differing += copy[h * vocab + v] == table[v * hidden + h] ? 0 : 1;
                }
            }
            assertThat(differing).isZero();
            try (OnnxModel base = OnnxModel.open(Decoders.model("optimum/base/model.onnx"))) {
                float[] before = base.weight("model.embed_tokens.weight").orElseThrow().toFloats();
                assertThat(table).isNotEqualTo(before); // the merge did change it
            }
            assertThat(TiedWeights.of(m, index)).containsExactly(
                    new TiedWeights.Tie(head.name(), "model.embed_tokens.weight", true));
        }
        assertThat(r.layers()).isNotEmpty();
    }

    @Test
    void aHeadIsACopyOnlyOfItsOwnModelsTable() {
        try (OnnxModel base = OnnxModel.open(Decoders.model("optimum/base/model.onnx"));
             OnnxModel tuned = OnnxModel.open(Decoders.model("optimum/licence/model.onnx"))) {
            Weight table = base.weight("model.embed_tokens.weight").orElseThrow();
            Weight ownHead = GraphIndex.of(base).weights().stream().filter(w -> w.modulePath().equals("lm_head"))
                    .findFirst().orElseThrow().weight();
            Weight otherHead = GraphIndex.of(tuned).weights().stream().filter(w -> w.modulePath().equals("lm_head"))
                    .findFirst().orElseThrow().weight();
            assertThat(TiedWeights.holds(table, ownHead, true)).isTrue();
            assertThat(TiedWeights.holds(table, otherHead, true)).isFalse();
        }
    }

    /**
     * A merge keeps its template's layout: weights in external data stay external, in a data file named as the
     * input's (Optimum's {@code model.onnx_data}); files get the permissions of any new file in the folder (not
     * private temporary files); the configs and tokenizer beside the template are copied, genai_config.json naming
     * the written model.
     */
    @Test
    void aMergeKeepsItsTemplatesLayoutAndCompanions() throws Exception {
        Path source = dir.resolve("source");
        java.nio.file.Files.createDirectories(source);
        for (String f : new String[] {"model.onnx", "model.onnx_data"}) {
            java.nio.file.Files.copy(Decoders.model("external/" + f), source.resolve(f));
        }
        java.nio.file.Files.copy(Decoders.DIR.resolve("tokenizer.json"), source.resolve("tokenizer.json"));
        java.nio.file.Files.writeString(source.resolve("genai_config.json"),
                "{\"model\": {\"decoder\": {\"filename\": \"model.onnx\", \"head_size\": 8}}}\n");
        Path out = dir.resolve("out/merged.onnx");
        java.nio.file.Files.createDirectories(out.getParent());
        java.nio.file.Files.writeString(out.getParent().resolve("config.json"), "{}");
        java.nio.file.Files.copy(Decoders.DIR.resolve("tokenizer.json"), source.resolve("config.json"));
        MergeReport r = Graft.merge().model(source.resolve("model.onnx"), 1)
                .model(Decoders.model("optimum/licence/model.onnx"), 1).method(new Linear()).writeTo(out);
        assertThat(r.outputs()).containsExactly(out.toString(), out + "_data",
                out.getParent().resolve("genai_config.json").toString(),
                out.getParent().resolve("tokenizer.json").toString());
        assertThat(java.nio.file.Files.readString(out.getParent().resolve("config.json"))).isEqualTo("{}");
        assertThat(java.nio.file.Files.readString(out.getParent().resolve("genai_config.json")))
                .contains("\"filename\" : \"merged.onnx\"").contains("\"head_size\" : 8");
        try (OnnxModel m = OnnxModel.open(out)) {
            assertThat(m.externalDataFiles()).containsExactly(out.getParent().resolve("merged.onnx_data"));
        }
        if (java.nio.file.FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Path fresh = java.nio.file.Files.createFile(dir.resolve("fresh"));
            assertThat(java.nio.file.Files.getPosixFilePermissions(out))
                    .isEqualTo(java.nio.file.Files.getPosixFilePermissions(fresh));
        }
        float[] torch = Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT));
        assertThat(torch).hasSizeGreaterThan(0);
    }
}
