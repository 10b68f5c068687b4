package dev.graft.verify;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.VerificationException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.onnx.OnnxModel;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decoders as Optimum exports them (the fixtures of {@code examples/recipes/decoders}): probes and calibration give
 * them inputs that agree with each other (mask over cache and new tokens, position ids, fp16 caches).
 */
class DecoderInputsTest {
    @ParameterizedTest
    @ValueSource(strings = {"base", "licence", "c", "python"})
    void theFixturesRunThroughTheirCacheAsTorchRanThem(String name) {
        assertThat(Decoders.diffFromTorch(Decoders.model("optimum/" + name + "/model.onnx"), name)).isLessThan(1e-4);
        if (name.equals("base")) {
            float[] torch = Decoders.onTokens(Decoders.torchLogits(name));
            for (String layout : List.of("untied", "external", "legacy/decoder_model_merged")) {
                assertThat(Decoders.diffFromTorch(Decoders.DIR.resolve(layout.contains("/") ? layout + ".onnx"
                        : layout + "/model.onnx"), name)).as(layout).isLessThan(1e-4);
            }
            assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.logits(Decoders.model("no_cache/model.onnx"))),
                    torch)).isLessThan(1e-4);
            assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(Decoders.model("fp16/model.onnx"),
                    ElementType.FLOAT16)), torch)).isLessThan(0.1); // float16 steps are 0.008 at logits of 10
        }
    }

    /**
     * ONNX Runtime GenAI's layout (packed Q|K|V, GroupQueryAttention with the rotary embedding inside, all weights in
     * model.onnx.data) computes torch's logits through its cache, for the first sample (GroupQueryAttention takes
     * several new tokens with a cache for one sample only, and reads padding as trailing).
     */
    @Test
    void theGenAiBuildRunsThroughItsCacheAsTorchRanIt() {
        int first = 12 * 98; // the first sample's logits: 12 tokens, no padding
        float[] torch = java.util.Arrays.copyOf(Decoders.torchLogits("base"), first);
        float[] genai = Decoders.kvLogits(Decoders.model("genai/base/model.onnx"), ElementType.FLOAT, 1);
        assertThat(Decoders.maxAbsDiff(genai, torch)).isLessThan(1e-4);
    }

    @Test
    void probesSizeTheMaskOverCacheAndNewTokensAndCountPositionsOnFromTheCache() {
        try (OnnxModel model = OnnxModel.open(Decoders.model("optimum/base/model.onnx"))) {
            Map<String, ModelRunner.Input> in = ProbeInputs.of(model, ProbeOptions.defaults());
            int past = ProbeOptions.DEFAULT_PAST;
            assertThat(in.get("input_ids").shape()).containsExactly(2, 8);
            assertThat(in.get("attention_mask").shape()).containsExactly(2, past + 8);
            assertThat(in.get("past_key_values.1.value").shape()).containsExactly(2, Decoders.KV_HEADS, past,
                    Decoders.HEAD);
            assertThat(in.get("position_ids").longs()).startsWith(past, past + 1, past + 2).endsWith(past + 7);

            Map<String, ModelRunner.Input> empty = ProbeInputs.of(model,
                    ProbeOptions.defaults().withDims(Map.of("past_sequence_length", 0L, "sequence_length", 5L)));
            assertThat(empty.get("attention_mask").shape()).containsExactly(2, 5);
            assertThat(empty.get("past_key_values.0.key").shape()).containsExactly(2, Decoders.KV_HEADS, 0,
                    Decoders.HEAD);
            assertThat(empty.get("position_ids").longs()).startsWith(0, 1, 2, 3, 4);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"optimum/base", "no_cache", "fp16", "external", "untied", "genai/base"})
    void everyLayoutVerifies(String layout) {
        VerifyReport r = new Verifier(ProbeOptions.defaults()).verify(Decoders.model(layout + "/model.onnx"), null);
        assertThat(r.allFinite()).isTrue();
        assertThat(r.outputs().get(0).shape()).containsExactly(2L, 8L, 98L);
    }

    @Test
    void dimensionNamesAreSumsOfSizesByWhatTheySay() {
        SymbolicDims dims = new SymbolicDims(2, 8, 3, Map.of());
        assertThat(dims.size("past_sequence_length + sequence_length", 1)).isEqualTo(11);
        assertThat(dims.size("past_sequence_length+1", 2)).isEqualTo(4);
        assertThat(dims.size("total_sequence_length", 1)).isEqualTo(11);
        assertThat(dims.size("batch_size", 0)).isEqualTo(2);
        assertThat(dims.size("unk__7", 0)).isEqualTo(2);
        assertThat(dims.size("unk__7", 3)).isEqualTo(8);
        SymbolicDims given = new SymbolicDims(2, 8, 3, Map.of("past_seq_len", 5L, "heads", 4L));
        assertThat(given.size("total_sequence_length", 1)).isEqualTo(13);
        assertThat(given.size("heads", 1)).isEqualTo(4);
        assertThatThrownBy(() -> new SymbolicDims(2, 8, 3, Map.of("x", -1L)))
                .hasMessageContaining("dimension 'x' cannot be -1");
    }

    @Test
    void textCalibrationFeedsADecoderPositionsFromItsMaskAndAnEmptyCache() {
        Path model = Decoders.model("optimum/base/model.onnx");
        Path tokenizer = Decoders.DIR.resolve("tokenizer.json");
        List<String> lines = List.of("int x = 1;", "static const char *name;");
        Calibration data = Calibration.texts("lines", lines, tokenizer, 64);
        List<float[]> seen = new ArrayList<>();
        try (Activations runs = Activations.of(model, List.of())) {
            runs.run(data, b -> seen.add(b.output(0, "logits").values()), ProgressListener.NONE, "test");
        }
        assertThat(seen).hasSize(1); // one batch: the short line is padded to the long one, and unpadded again
        float[] both = seen.get(0);
        float[] shortAlone = alone(model, tokenizer, lines.get(0));
        float[] longAlone = alone(model, tokenizer, lines.get(1));
        float[] joined = new float[shortAlone.length + longAlone.length];
        System.arraycopy(shortAlone, 0, joined, 0, shortAlone.length);
        System.arraycopy(longAlone, 0, joined, shortAlone.length, longAlone.length);
        assertThat(Decoders.maxAbsDiff(both, joined)).isLessThan(1e-4);
    }

    /** The logits of {@code text} run alone, with position ids 0.. and an empty cache built here. */
    private static float[] alone(Path model, Path tokenizer, String text) {
        Map<String, ModelRunner.Input> tokens = Calibration.texts("one", List.of(text), tokenizer, 64).batches().get(0);
        int n = (int) tokens.get("input_ids").shape()[1];
        long[] positions = new long[n];
        for (int i = 0; i < n; i++) {
            positions[i] = i;
        }
        Map<String, ModelRunner.Input> in = new LinkedHashMap<>();
        in.put("input_ids", tokens.get("input_ids"));
        in.put("attention_mask", tokens.get("attention_mask"));
        in.put("position_ids", ModelRunner.Input.ofLongs(positions, 1, n));
        for (int l = 0; l < Decoders.LAYERS; l++) {
            for (String part : List.of("key", "value")) {
                in.put("past_key_values." + l + "." + part,
                        ModelRunner.Input.of(new float[0], 1, Decoders.KV_HEADS, 0, Decoders.HEAD));
            }
        }
        try (ModelRunner runner = new ModelRunner(model, 1)) {
            return runner.run(in, Set.of("logits")).get("logits").values();
        }
    }

    @Test
    void aCalibrationThatMissesAnInputNamesTheUsersModelNotItsWorkingCopy() {
        Path mlp = Path.of("../examples/recipes/independent/mlp_seed1.onnx").toAbsolutePath().normalize();
        Calibration text = Calibration.texts("lines", List.of("hello"), Decoders.DIR.resolve("tokenizer.json"), 16);
        try (Activations runs = Activations.of(mlp, List.of("logits"))) {
            assertThatThrownBy(() -> runs.run(text, b -> { }, ProgressListener.NONE, "test"))
                    .isInstanceOf(VerificationException.class)
                    .hasMessageContaining(mlp.toString())
                    .hasMessageNotContaining("graft-activations");
        }
    }
}
