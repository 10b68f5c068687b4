package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
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
}
