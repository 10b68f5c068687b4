package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.data.Calibration;
import dev.graft.eval.OutputSimilarity;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** bge-small's 12 layers tied into shared blocks, with layer-wise LoRA from the SVD of each layer's residual. */
class RecursiveModelTest {
    @TempDir
    Path dir;

    @Test
    void atFullRankTheRecursiveModelComputesTheOriginal() {
        Path bge = RealModels.bgeSmall();
        Path out = dir.resolve("recursive.onnx");
        RecursiveModel.Report r = RecursiveModel.of(bge).blocks(6).rank(384).writeTo(out);
        assertThat(r.layers()).isEqualTo(12);
        try (OnnxModel m = OnnxModel.open(out)) { // layers 0 and 1 share block 0 and their LoRAs' A
            assertThat(m.proto().getGraph().getNodeList().stream()
                    .filter(n -> n.getInputList().contains("encoder.layer.0.attention.self.query.lora_A"))
                    .count()).isEqualTo(2);
        }
        assertThat(r.capturedEnergy().values()).allSatisfy(e -> assertThat(e).isGreaterThan(1 - 1e-9));
        var diff = new Verifier(ProbeOptions.defaults()).verify(out, bge);
        assertThat(diff.maxAbs()).isLessThan(2e-3);
    }

    @Test
    void withoutLoraTiedLayersReadOneInitializerAndTheFileShrinksByHalfTheDenseWeights() throws Exception {
        Path bge = RealModels.bgeSmall();
        Path out = dir.resolve("recursive.onnx");
        RecursiveModel.Report r = RecursiveModel.of(bge).blocks(6).rank(0).writeTo(out);
        assertThat(r.denseParametersAfter()).isEqualTo(r.denseParametersBefore() / 2);
        long saved = Files.size(bge) - Files.size(out);
        assertThat(saved).isBetween(4 * r.denseParametersBefore() / 2 - (1 << 16),
                4 * r.denseParametersBefore() / 2 + (1 << 16));
        try (OnnxModel m = OnnxModel.open(out)) {
            long uses = m.proto().getGraph().getNodeList().stream()
                    .filter(n -> n.getInputList().contains("recursive.block0.encoder.layer.attention.self.query.weight"))
                    .count();
            assertThat(uses).isEqualTo(2); // layers 0 and 1
        }
        var diff = new Verifier(ProbeOptions.defaults()).verify(out, bge);
        assertThat(diff.maxAbs()).isGreaterThan(1e-2); // tying without LoRA changes the function
        RecursiveModel.of(bge).blocks(4).tying(RecursiveModel.Tying.CYCLIC).rank(0).writeTo(dir.resolve("cyclic.onnx"));
        try (OnnxModel m = OnnxModel.open(dir.resolve("cyclic.onnx"))) {
            assertThat(m.proto().getGraph().getNodeList().stream().filter(n -> n.getName().startsWith("/encoder/layer.4/"))
                    .flatMap(n -> n.getInputList().stream()).filter(i -> i.startsWith("recursive.block"))
                    .allMatch(i -> i.startsWith("recursive.block0."))).isTrue(); // layer 4 → block 4 mod 4 = 0
        }
        assertThatThrownBy(() -> RecursiveModel.of(bge).blocks(5).writeTo(dir.resolve("x.onnx")))
                .isInstanceOf(GraftException.class).hasMessageContaining("5 blocks must divide");
    }

    private static Calibration text(String file, int samples) {
        return Calibration.text(Path.of("../examples/recipes/text/" + file),
                RealModels.bgeSmall().resolveSibling("bge-small-en-v1.5-tokenizer.json"), samples, 64);
    }

    /**
     * Fitted on the layers' inputs over held-out sentences, the recursive model's outputs on other text are closer to
     * the original's than the weight-only fit's; at full rank it is still exact.
     */
    @Test
    void theDataAwareFitIsCloserToTheOriginalOnTextItWasNotFittedOnAndExactAtFullRank() {
        Path bge = RealModels.bgeSmall();
        OutputSimilarity similarity = new OutputSimilarity(bge, text("sentences.txt", 48));
        RecursiveModel.Report weightOnly = RecursiveModel.of(bge).blocks(6).rank(16).writeTo(dir.resolve("w.onnx"));
        RecursiveModel converter = RecursiveModel.of(bge).blocks(6).calibration(text("heldout.txt", 64));
        RecursiveModel.Report dataAware = converter.rank(16).writeTo(dir.resolve("a.onnx"));
        assertThat(weightOnly.fit()).isEqualTo("weights");
        assertThat(dataAware.fit()).isEqualTo("activations");
        assertThat(dataAware.calibrationRows()).isGreaterThan(64 * 5);
        // weight-only, the two layers of a block have opposite residuals and share one A (16 × in) per kind:
        // 5 kinds read 384 features and the FFN output 1536, in 6 blocks
        assertThat(dataAware.denseParametersAfter() - weightOnly.denseParametersAfter())
                .isEqualTo(6L * 16 * (5 * 384 + 1536));
        double w = similarity.evaluate(dir.resolve("w.onnx"));
        double a = similarity.evaluate(dir.resolve("a.onnx"));
        assertThat(1 - a).as("output distance, data-aware vs weight-only %.4f", w).isLessThan(0.8 * (1 - w));
        converter.rank(384).writeTo(dir.resolve("full.onnx")); // the Grams are reused
        assertThat(new Verifier(ProbeOptions.defaults()).verify(dir.resolve("full.onnx"), bge).maxAbs())
                .isLessThan(2e-3);
    }

    /** With the shared weights taken from one layer of each block, that layer keeps its weights and needs no LoRA. */
    @Test
    void aBlockMayTakeOneOfItsLayersWeights() {
        Path bge = RealModels.bgeSmall();
        Path out = dir.resolve("first.onnx");
        RecursiveModel.Report r = RecursiveModel.of(bge).blocks(4).sharedFrom(2).rank(8).writeTo(out);
        assertThat(r.capturedEnergy()).hasSize(72 - 24).doesNotContainKey("encoder.layer.2.attention.self.query")
                .containsKey("encoder.layer.1.attention.self.query");
        try (OnnxModel original = OnnxModel.open(bge); OnnxModel converted = OnnxModel.open(out)) {
            String layer2 = original.proto().getGraph().getNodeList().stream()
                    .filter(n -> n.getName().equals("/encoder/layer.2/attention/self/query/MatMul")).findFirst()
                    .orElseThrow().getInput(1);
            assertThat(converted.weight("recursive.block0.encoder.layer.attention.self.query.weight").orElseThrow()
                    .toFloats()).containsExactly(original.weight(layer2).orElseThrow().toFloats());
        }
        assertThatThrownBy(() -> RecursiveModel.of(bge).blocks(4).sharedFrom(3).writeTo(dir.resolve("x.onnx")))
                .isInstanceOf(GraftException.class).hasMessageContaining("3 layers per block");
        assertThat(dir.resolve("x.onnx")).doesNotExist();
    }
}
