package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.graph.TokenGate;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Mixtures of LoRA experts on the decoder fixtures (rank-8 adapters extracted from the python, c and licence
 * fine-tunes), run with a KV cache as a user runs them. Exact properties: the same adapter as every expert, or one
 * adapter, is {@code lora apply}'s model whatever the gates; a gate that always picks expert e gives adapter e's
 * applied model.
 */
class LoraExpertsTest {
    private static final Path BASE = Decoders.model("optimum/base/model.onnx");
    private static final List<String> TASKS = List.of("python", "c", "licence");
    @TempDir
    static Path dir;
    private static List<Path> adapters;

    /** Rank-8 adapters extracted from the fine-tunes, less the head (tied to the embedding: LoRA experts refuse it). */
    @BeforeAll
    static void extract() {
        adapters = TASKS.stream().map(t -> {
            Path full = dir.resolve(t + "-extracted");
            LoraExtract.from(BASE, Decoders.model("optimum/" + t + "/model.onnx")).rank(8).writeTo(full);
            PeftAdapter a = PeftAdapter.read(full);
            Map<String, LoraModule> modules = new LinkedHashMap<>(a.modules());
            assertThat(modules.remove("lm_head")).isNotNull();
            Path folder = dir.resolve(t + "-adapter");
            new PeftAdapter(a.config(), modules, a.biases()).write(folder);
            return folder;
        }).toList();
    }

    private static float[] logits(Path model) {
        return Decoders.onTokens(Decoders.kvLogits(model, ElementType.FLOAT));
    }

    private static Path applied(Path adapter) {
        Path out = dir.resolve("applied-" + adapter.getFileName() + ".onnx");
        if (!Files.exists(out)) {
            LoraApply.to(BASE).adapter(adapter).writeTo(out);
        }
        return out;
    }

    /** Gates from {@code weight(width, e)} and {@code bias(e)} for every value the mixture's layers read. */
    private static Map<String, TokenGate> gates(LoraExperts mixture, int experts, long seed, float[] bias) {
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, TokenGate> out = new LinkedHashMap<>();
        for (TokenGate.Input in : mixture.gateInputs()) {
            float[] w = new float[in.width() * experts];
            for (int k = 0; k < w.length; k++) {
                w[k] = bias == null ? (float) random.nextGaussian() : 0;
            }
            out.put(in.value(), new TokenGate(w, bias));
        }
        return out;
    }

    @Test
    void theSameAdapterAsEveryExpertIsTheAppliedAdapter() {
        Path python = adapters.get(0);
        float[] expected = logits(applied(python));
        LoraExperts twice = LoraExperts.of(BASE, List.of(python, python));
        Path moe = dir.resolve("twice.onnx");
        LoraExperts.Report r = twice.gates(gates(twice, 2, 1, null)).expertsPerToken(2).writeTo(moe);
        assertThat(r.layers()).isNotEmpty().allSatisfy(l -> assertThat(l.ranks()).containsExactly(8, 8));
        assertThat(r.gates()).as("one gate per transformer layer").isEqualTo(Decoders.LAYERS);
        assertThat(Decoders.maxAbsDiff(logits(moe), expected)).isLessThan(1e-4);
        LoraExperts once = LoraExperts.of(BASE, List.of(python));
        Path single = dir.resolve("once.onnx");
        once.gates(gates(once, 1, 2, null)).writeTo(single);
        assertThat(Decoders.maxAbsDiff(logits(single), expected)).isLessThan(1e-4);
    }

    @Test
    void aGatePickingOneExpertGivesThatAdapter() {
        LoraExperts mixture = LoraExperts.of(BASE, adapters);
        for (int e = 0; e < 3; e++) {
            float[] bias = new float[3];
            bias[e] = 10;
            Path moe = dir.resolve("pick" + e + ".onnx");
            mixture.gates(gates(mixture, 3, 0, bias)).writeTo(moe);
            float[] got = logits(moe);
            assertThat(Decoders.maxAbsDiff(got, logits(applied(adapters.get(e))))).as(TASKS.get(e))
                    .isLessThan(1e-4);
            assertThat(Decoders.maxAbsDiff(got, logits(applied(adapters.get((e + 1) % 3))))).isGreaterThan(1e-2);
        }
    }

    @Test
    void badSettingsAreRefusedAndNothingIsWritten() {
        Path target = dir.resolve("bad.onnx");
        LoraExperts mixture = LoraExperts.of(BASE, adapters);
        assertThatThrownBy(() -> mixture.writeTo(target)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("needs gates");
        Map<String, TokenGate> wrong = new LinkedHashMap<>(gates(mixture, 2, 0, null));
        assertThatThrownBy(() -> mixture.gates(wrong).writeTo(target)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("must be [32, 3]");
        Map<String, TokenGate> missing = new LinkedHashMap<>(gates(mixture, 3, 0, null));
        missing.remove(missing.keySet().iterator().next());
        assertThatThrownBy(() -> mixture.gates(missing).writeTo(target)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("no gate given for");
        assertThatThrownBy(() -> mixture.gates(gates(mixture, 3, 0, null)).expertsPerToken(4).writeTo(target))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("exceeds the 3 adapters");
        assertThatThrownBy(() -> LoraExperts.of(BASE, List.of(dir.resolve("no-such-adapter"))))
                .isInstanceOf(GraftException.class).hasMessageContaining("no-such-adapter");
        LoraExperts withHead = LoraExperts.of(BASE, List.of(dir.resolve("python-extracted")));
        assertThatThrownBy(withHead::gateInputs).isInstanceOf(GraftException.class)
                .hasMessageContaining("is a head tied to the token embedding (module 'lm_head')");
        assertThatThrownBy(() -> LoraExperts.of(BASE, List.of())).isInstanceOf(InvalidSettingException.class);
        assertThat(Files.exists(target)).isFalse();
    }
}
