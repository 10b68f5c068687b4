package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.IncompatibleModelsException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergeReport;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LinearMergeTest {
    @TempDir
    Path dir;

    /**
     * The end-to-end check: the linear merge of bge-small and e5-small loads and runs in ORT, and sampled
     * tensors equal (a+b)/2 exactly. e5 has position_ids as an int64 initializer where bge has a Constant node.
     */
    @Test
    void mergesBgeAndE5IntoAModelThatRunsAndHoldsTheAverage() throws IOException {
        Path bge = RealModels.bgeSmall();
        Path e5 = RealModels.e5Small();
        Path out = dir.resolve("soup.onnx");
        MergeReport report = Graft.merge().model(bge, 0.5).model(e5, 0.5).method(new Linear()).writeTo(out);
        assertThat(report.merged()).isEqualTo(197);
        assertThat(report.unmerged()).extracting(MergeReport.Unmerged::tensor).containsExactly("embeddings.position_ids");
        VerifyReport run = new Verifier(ProbeOptions.defaults()).verify(out, bge);
        assertThat(run.allFinite()).isTrue();
        assertThat(run.maxAbs()).isGreaterThan(0); // a different model from bge...
        try (OnnxModel a = OnnxModel.open(bge); OnnxModel b = OnnxModel.open(e5); OnnxModel m = OnnxModel.open(out)) {
            Random r = new Random(4);
            List<Weight> weights = a.initializers();
            for (int k = 0; k < 20; k++) {
                String name = weights.get(r.nextInt(weights.size())).name();
                float[] x = a.weight(name).orElseThrow().toFloats();
                float[] y = b.weight(name).orElseThrow().toFloats();
                float[] z = m.weight(name).orElseThrow().toFloats();
                for (int i = 0; i < x.length; i++) {
                    assertThat(z[i]).as("%s[%d]", name, i).isEqualTo((x[i] + y[i]) / 2);
                }
            }
            assertThat(m.proto().getMetadataPropsList()).anyMatch(p -> p.getKey().equals("graft.inputs")
                    && p.getValue().contains(a.sha256()) && p.getValue().contains(b.sha256()));
        }
        // ...and merging the other way round copies e5's int64 position_ids from the first model
        MergeReport other = Graft.merge().model(e5, 0.5).model(bge, 0.5).method(new Linear())
                .writeTo(dir.resolve("soup2.onnx"));
        assertThat(other.unmerged()).singleElement().satisfies(u -> assertThat(u.reason()).contains("copied from"));
    }

    @Test
    void outputBytesDoNotDependOnThreadsOrBudget() throws IOException {
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(2), dir.resolve("b.onnx"));
        Path c = TinyModels.save(TinyModels.mlp(3), dir.resolve("c.onnx"));
        Path one = dir.resolve("one.onnx");
        Path four = dir.resolve("four.onnx");
        Graft.merge().model(a, 1).model(b, 2).model(c, 3).method(new Linear()).threads(1).writeTo(one);
        Graft.merge().model(a, 1).model(b, 2).model(c, 3).method(new Linear()).threads(4).memoryBudget(1)
                .writeTo(four);
        assertThat(Files.readAllBytes(four)).isEqualTo(Files.readAllBytes(one));
    }

    @Test
    void mergingAModelWithItselfReturnsItsFunction() {
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        Path out = dir.resolve("self.onnx");
        Graft.merge().model(a, 0.3).model(a, 0.7).method(new Linear()).writeTo(out);
        // 0.3x + 0.7x may differ from x by one rounding; outputs agree to float precision
        assertThat(new Verifier(ProbeOptions.defaults()).verify(out, a).maxRel()).isLessThan(1e-6);
    }

    @Test
    void modelsOfDifferentStructureAreRefusedWithTheTensorNamed() {
        Path out = dir.resolve("bad.onnx");
        assertThatThrownBy(() -> Graft.merge().model(RealModels.bgeSmall(), 1).model(RealModels.miniLm(), 1)
                .method(new Linear()).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class)
                .hasMessageContaining("all-minilm-l6-v2.onnx")
                .hasMessageContaining("encoder.layer.6");
        assertThat(out).doesNotExist();
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        var wider = TinyModels.mlp(1).toBuilder();
        wider.getGraphBuilder().setInitializer(1, TinyModels.floats("b1", new float[9], 9));
        Path b = TinyModels.save(wider.build(), dir.resolve("b.onnx"));
        assertThatThrownBy(() -> Graft.merge().model(a, 1).model(b, 1).method(new Linear()).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class)
                .hasMessageContaining("b.onnx").hasMessageContaining("'b1'").hasMessageContaining("float32[9]")
                .hasMessageContaining("float32[8]");
        assertThat(out).doesNotExist();
        Path half = dir.resolve("half.onnx");
        dev.graft.Graft.convert(a).dtype(dev.graft.tensor.ElementType.FLOAT16).writeTo(half);
        assertThatThrownBy(() -> Graft.merge().model(a, 1).model(half, 1).method(new Linear()).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class)
                .hasMessageContaining("half.onnx").hasMessageContaining("'W1'").hasMessageContaining("float16[4, 8]")
                .hasMessageContaining("float32[4, 8]");
        assertThat(out).doesNotExist();
    }
}
