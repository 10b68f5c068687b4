package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.UnsupportedModelException;
import dev.graft.index.GraphIndex;
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
        float[] torch = Decoders.onTokens(Decoders.torchLogits("base"));
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT)), torch))
                .isLessThan(1e-4);
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

    @Test
    void int4ModelsAreRefusedBeforeAnythingIsWritten() {
        Path out = dir.resolve("int4.onnx");
        assertThatThrownBy(() -> Graft.merge().model(Decoders.model("int4/base/model.onnx"), 1)
                .model(Decoders.model("int4/licence/model.onnx"), 1).method(new Linear()).writeTo(out))
                .isInstanceOf(UnsupportedModelException.class)
                .hasMessageContaining("int4/base/model.onnx")
                .hasMessageContaining("model.layers.0.self_attn.q_proj.MatMul.weight_Q4")
                .hasMessageContaining("MatMulNBits");
        assertThat(dir.toFile().list()).isEmpty();
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
}
