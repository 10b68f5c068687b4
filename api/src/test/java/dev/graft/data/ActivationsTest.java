package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.exec.ProgressListener;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivationsTest {
    @TempDir
    Path dir;

    /** relu(x·W1 + b1) of the tiny MLP, worked out from its weights. */
    private static float[] hidden(Path model, float[] x, int rows) {
        try (OnnxModel m = OnnxModel.open(model)) {
            float[] w = m.weight("W1").orElseThrow().toFloats();
            float[] b = m.weight("b1").orElseThrow().toFloats();
            float[] h = new float[rows * TinyModels.HIDDEN];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < TinyModels.HIDDEN; j++) {
                    double s = b[j];
                    for (int i = 0; i < TinyModels.IN; i++) {
                        s += x[r * TinyModels.IN + i] * w[i * TinyModels.HIDDEN + j];
                    }
                    h[r * TinyModels.HIDDEN + j] = (float) Math.max(0, s);
                }
            }
            return h;
        }
    }

    @Test
    void everyBatchOfEveryModelReachesTheConsumerWithTheExposedValues() {
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(2), dir.resolve("b.onnx"));
        Random r = new Random(3);
        List<Map<String, ModelRunner.Input>> batches = new ArrayList<>();
        List<float[]> xs = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
            float[] x = TinyModels.random(r, 5 * TinyModels.IN);
            xs.add(x);
            batches.add(Map.of("x", ModelRunner.Input.of(x, 5, TinyModels.IN)));
        }
        List<Integer> seen = new ArrayList<>();
        List<Integer> progress = new ArrayList<>();
        ProgressListener listener = (stage, done, total) -> {
            assertThat(stage).isEqualTo("testing");
            assertThat(total).isEqualTo(3);
            progress.add(done);
        };
        try (Activations runs = Activations.of(List.of(a, b), List.of(Set.of("h2"), Set.of("h2", "h0")))) {
            runs.run(Calibration.of("memory", batches), batch -> {
                seen.add(batch.index());
                float[] x = xs.get(batch.index());
                assertThat(batch.output(0, "h2").values()).containsExactly(hidden(a, x, 5), within(1e-5f));
                assertThat(batch.output(1, "h2").values()).containsExactly(hidden(b, x, 5), within(1e-5f));
                assertThat(batch.output(1, "h2").shape()).containsExactly(5, TinyModels.HIDDEN);
                assertThat(batch.outputs().get(0)).containsOnlyKeys("h2");
                assertThat(batch.outputs().get(1)).containsOnlyKeys("h2", "h0");
            }, listener, "testing");
        }
        assertThat(seen).containsExactly(0, 1, 2);
        assertThat(progress).containsExactly(1, 2, 3);
    }

    /** Passes share the sessions and fetch their own values: each pass's batches hold exactly what it fetched. */
    @Test
    void passesOverTheSameSessionsFetchOnlyTheirOwnValues() {
        Path a = TinyModels.save(TinyModels.mlp(4), dir.resolve("a.onnx"));
        float[] x = TinyModels.random(new Random(5), 4 * TinyModels.IN);
        Calibration data = Calibration.of("memory", List.of(Map.of("x", ModelRunner.Input.of(x, 4, TinyModels.IN))));
        try (Activations runs = Activations.of(a, Set.of("h0", "h2"))) {
            runs.run(data, List.of(Set.of("h2")), batch -> {
                assertThat(batch.outputs().get(0)).containsOnlyKeys("h2");
                assertThat(batch.output(0, "h2").values()).containsExactly(hidden(a, x, 4), within(1e-5f));
            }, ProgressListener.NONE, "second");
            runs.run(data, List.of(Set.of("h0")), batch -> assertThat(batch.outputs().get(0)).containsOnlyKeys("h0"),
                    ProgressListener.NONE, "first");
        }
    }

    @Test
    void aValueThatWasNotExposedIsATypedErrorNamingTheModel() {
        Path a = TinyModels.save(TinyModels.mlp(6), dir.resolve("a.onnx"));
        float[] x = TinyModels.random(new Random(7), 2 * TinyModels.IN);
        Calibration data = Calibration.of("memory", List.of(Map.of("x", ModelRunner.Input.of(x, 2, TinyModels.IN))));
        try (Activations runs = Activations.of(a, Set.of("h2"))) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> runs.run(data, b -> b.output(0, "h9"),
                            ProgressListener.NONE, "testing"))
                    .isInstanceOf(dev.graft.VerificationException.class).hasMessageContaining("a.onnx")
                    .hasMessageContaining("'h9'").hasMessageContaining("float tensor");
        }
    }

    @Test
    void withNoValuesTheGraphOutputsAreHandedOver() {
        Path a = TinyModels.save(TinyModels.mlp(4), dir.resolve("a.onnx"));
        float[] x = TinyModels.random(new Random(5), 2 * TinyModels.IN);
        try (Activations runs = Activations.of(a, Set.of())) {
            List<String> names = new ArrayList<>();
            runs.run(Calibration.of("memory", List.of(Map.of("x", ModelRunner.Input.of(x, 2, TinyModels.IN)))),
                    batch -> names.addAll(batch.outputs().get(0).keySet()), ProgressListener.NONE, "testing");
            assertThat(names).containsExactly("y");
        }
    }

    /**
     * Text of mixed lengths is batched with padding, and every value reaches the consumer with the padded positions
     * left out: its rows equal those of each sentence run alone, in order (the FFN activation [B, S, 1536] and the
     * output [B, S, 384] of bge-small).
     */
    @Test
    void paddedPositionsAreLeftOutOfTheValues() throws java.io.IOException {
        Path bge = dev.graft.testing.RealModels.bgeSmall();
        Path tokenizer = bge.resolveSibling("bge-small-en-v1.5-tokenizer.json");
        Path text = java.nio.file.Files.writeString(dir.resolve("text.txt"), String.join("\n",
                "A short one.", "This sentence is quite a bit longer than the first one, with more tokens.",
                "Medium length sentence here.", "Tiny.", "Another sentence of some words for the batch."));
        Calibration data = Calibration.text(text, tokenizer, 10, 64);
        assertThat(data.batches()).hasSize(1);
        Map<String, ModelRunner.Input> batch = data.batches().get(0);
        long[] mask = batch.get("attention_mask").longs();
        long real = java.util.Arrays.stream(mask).sum();
        assertThat(real).isLessThan(mask.length); // mixed lengths: some padding
        String ffnValue;
        try (OnnxModel m = OnnxModel.open(bge)) {
            ffnValue = m.proto().getGraph().getNodeList().stream()
                    .filter(n -> n.getName().startsWith("/encoder/layer.3/intermediate/"))
                    .reduce((first, second) -> second).orElseThrow().getOutput(0);
        }
        assertThat(ffnValue).isNotEmpty();
        List<float[]> expectedOut = new ArrayList<>();
        try (ModelRunner alone = new ModelRunner(bge, 1)) {
            int length = (int) batch.get("attention_mask").shape()[1];
            for (int k = 0; k < mask.length / length; k++) {
                int n = 0;
                while (n < length && mask[k * length + n] != 0) {
                    n++;
                }
                long[] ids = java.util.Arrays.copyOfRange(batch.get("input_ids").longs(), k * length, k * length + n);
                long[] ones = new long[n];
                java.util.Arrays.fill(ones, 1);
                Map<String, ModelRunner.Input> one = Map.of("input_ids", ModelRunner.Input.ofLongs(ids, 1, n),
                        "attention_mask", ModelRunner.Input.ofLongs(ones, 1, n),
                        "token_type_ids", ModelRunner.Input.ofLongs(new long[n], 1, n));
                expectedOut.add(alone.run(one, Set.of("last_hidden_state")).get("last_hidden_state").values());
            }
        }
        try (Activations runs = Activations.of(bge, Set.of(ffnValue, "last_hidden_state"))) {
            runs.run(data, b -> {
                ModelRunner.Output hidden = b.output(0, "last_hidden_state");
                assertThat(hidden.shape()).containsExactly(1, real, 384);
                ModelRunner.Output act = b.output(0, ffnValue);
                assertThat(act.shape()).containsExactly(1, real, 1536);
                float[] joined = new float[(int) real * 384];
                int at = 0;
                for (float[] e : expectedOut) {
                    System.arraycopy(e, 0, joined, at, e.length);
                    at += e.length;
                }
                assertThat(hidden.values()).containsExactly(joined, within(2e-4f));
            }, ProgressListener.NONE, "testing");
        }
    }
}
