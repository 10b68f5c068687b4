package dev.graft.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.ExpertRouting;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upcycled mixtures of the tiny Llama-style decoders ({@code examples/recipes/decoders}: SwiGLU MLPs, a KV cache),
 * run as a user runs them (a prefix, then the next tokens with the cache). Exact properties: identical experts give
 * the dense model whatever the gates; one expert with k = 1 is the base with that expert's MLPs; the standard-ops
 * graph and ONNX Runtime's {@code com.microsoft.MoE} kernel, two independent implementations, agree.
 */
class UpcycleTest {
    private static final Path BASE = Decoders.model("optimum/base/model.onnx");
    private static final List<String> TASKS = List.of("python", "c", "licence");
    @TempDir
    Path dir;

    private static Path tuned(String task) {
        return Decoders.model("optimum/" + task + "/model.onnx");
    }

    private static List<Calibration> prompts() {
        return TASKS.stream().map(t -> Calibration.text(Decoders.DIR.resolve(t + "_test.txt"),
                Decoders.DIR.resolve("tokenizer.json"), 8, 32)).toList();
    }

    private static float[] logits(Path model) {
        return Decoders.onTokens(Decoders.kvLogits(model, ElementType.FLOAT));
    }

    @Test
    void identicalExpertsGiveTheDenseModelInBothForms() {
        float[] dense = logits(BASE);
        for (Upcycle.Form form : Upcycle.Form.values()) {
            Path moe = dir.resolve(form + ".onnx");
            Upcycle.Report r = Upcycle.of(BASE, List.of(BASE, BASE, BASE)).gates(GateSource.random(3)).form(form)
                    .writeTo(moe);
            assertThat(r.layers()).hasSize(Decoders.LAYERS);
            assertThat(r.layers().get(0).activation()).isEqualTo("swiglu");
            assertThat(r.layers().get(0).weights()).as("gate, up and down projections").hasSize(3);
            assertThat(Decoders.maxAbsDiff(logits(moe), dense)).as(form.toString()).isLessThan(1e-4);
        }
    }

    @Test
    void oneExpertPerTokenOfOneIsTheBaseWithThatExpertsMlps() {
        Path moe = dir.resolve("python-only.onnx");
        Upcycle.Report r = Upcycle.of(BASE, List.of(tuned("python"))).gates(GateSource.random(1))
                .expertsPerToken(1).writeTo(moe);
        Set<String> mlp = new HashSet<>();
        r.layers().forEach(l -> mlp.addAll(l.weights()));
        Path reference = dir.resolve("reference.onnx");
        try (OnnxModel base = OnnxModel.open(BASE); OnnxModel python = OnnxModel.open(tuned("python"))) {
            RewritePlan.Builder plan = RewritePlan.of("test", base.proto());
            for (Weight w : base.initializers()) {
                plan.copy(mlp.contains(w.name()) ? python.weight(w.name()).orElseThrow() : w);
            }
            Rewriter.write(plan.build(), reference, Execution.defaults());
        }
        float[] expected = logits(reference);
        assertThat(Decoders.maxAbsDiff(logits(moe), expected)).isLessThan(1e-5);
        assertThat(Decoders.maxAbsDiff(expected, logits(BASE))).as("the python MLPs change the logits")
                .isGreaterThan(1e-2);
    }

    @Test
    void theStandardGraphAndOnnxRuntimesMoeKernelAgreeOnDistinctExperts() {
        List<Path> experts = TASKS.stream().map(UpcycleTest::tuned).toList();
        GateSource gates = GateSource.hidden(prompts(), List.of());
        for (int k : new int[] {1, 2}) {
            Path standard = dir.resolve("standard" + k + ".onnx");
            Path contrib = dir.resolve("contrib" + k + ".onnx");
            Upcycle.Report r = Upcycle.of(BASE, experts).gates(gates).expertsPerToken(k).writeTo(standard);
            Upcycle.of(BASE, experts).gates(gates).expertsPerToken(k).form(Upcycle.Form.CONTRIB).writeTo(contrib);
            assertThat(r.gates()).isEqualTo("hidden");
            assertThat(r.layers()).allSatisfy(l -> assertThat(l.gateCosine()).isBetween(-1.0, 0.999));
            float[] s = logits(standard);
            assertThat(Decoders.maxAbsDiff(s, logits(contrib))).as("k = " + k).isLessThan(1e-4);
            assertThat(Decoders.maxAbsDiff(s, logits(BASE))).isGreaterThan(1e-2);
        }
        try (OnnxModel m = OnnxModel.open(dir.resolve("contrib2.onnx"))) {
            assertThat(m.proto().getGraph().getNodeList()).filteredOn(n -> n.getOpType().equals("MoE"))
                    .hasSize(Decoders.LAYERS);
            assertThat(m.weight(ExpertRouting.SCOPE + "layer.0/fc1_experts").orElseThrow().shape()[0]).isEqualTo(3);
        }
    }

    @Test
    void cheapEmbedGatesAreOneVectorPerExpertAtEveryLayer() {
        Path moe = dir.resolve("cheap.onnx");
        Upcycle.of(BASE, TASKS.stream().map(UpcycleTest::tuned).toList())
                .gates(GateSource.cheapEmbed(prompts(), List.of())).writeTo(moe);
        try (OnnxModel m = OnnxModel.open(moe)) {
            float[] g0 = m.weight(ExpertRouting.SCOPE + "layer.0/gate").orElseThrow().toFloats();
            float[] g1 = m.weight(ExpertRouting.SCOPE + "layer.1/gate").orElseThrow().toFloats();
            assertThat(g1).containsExactly(g0);
            double norm = 0;
            for (int r = 0; r < g0.length / 3; r++) {
                norm += g0[r * 3] * g0[r * 3];
            }
            assertThat(norm).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-5));
        }
        assertThat(Decoders.maxAbsDiff(logits(moe), logits(BASE))).isGreaterThan(1e-2);
    }

    @Test
    void badSettingsAreRefusedAndNothingIsWritten() {
        Path target = dir.resolve("bad.onnx");
        List<Path> two = List.of(tuned("python"), tuned("c"));
        assertThatThrownBy(() -> Upcycle.of(BASE, two).writeTo(target))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("needs gates");
        assertThatThrownBy(() -> Upcycle.of(BASE, two).gates(GateSource.random(0)).expertsPerToken(3)
                .writeTo(target)).isInstanceOf(InvalidSettingException.class).hasMessageContaining("exceeds the 2");
        assertThatThrownBy(() -> Upcycle.of(BASE, two).gates(GateSource.hidden(prompts(), List.of()))
                .writeTo(target)).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("2 experts but 3 prompt sets");
        assertThatThrownBy(() -> Upcycle.of(BASE, List.of())).isInstanceOf(InvalidSettingException.class);
        Path digits = Path.of("../examples/recipes/digits");
        assertThatThrownBy(() -> Upcycle.of(digits.resolve("base.onnx"), List.of(digits.resolve("task_a.onnx")))
                .gates(GateSource.random(0)).writeTo(target)).isInstanceOf(dev.graft.UnsupportedModelException.class)
                .hasMessageContaining("base.onnx: has no numbered transformer layers");
        assertThatThrownBy(() -> Upcycle.of(BASE, two).expertsPerToken(0))
                .isInstanceOf(InvalidSettingException.class);
        assertThat(Files.exists(target)).isFalse();
    }
}
