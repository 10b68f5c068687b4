package dev.graft.examples;

import dev.graft.recipe.Recipes;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.merge.MergeRecipe;
import dev.graft.onnx.OnnxModel;
import dev.graft.plan.MergeReport;
import dev.graft.testing.RealModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every example recipe runs, and its result loads and runs in ONNX Runtime. */
class RecipeExamplesTest {
    @TempDir
    Path dir;

    @Test
    void slerpOfBgeAndE5FollowsItsGradient() throws IOException {
        // the recipe points at cli/target/models; here the same models are in this module's target/models
        String yaml = Files.readString(Path.of("recipes/bge-e5/slerp.yaml"))
                .replace("../../../cli/target/models/", RealModels.bgeSmall().toAbsolutePath().getParent() + "/");
        Path recipe = Files.writeString(dir.resolve("slerp.yaml"), yaml);
        Path out = dir.resolve("slerp.onnx");
        MergeReport r = ((MergeRecipe) Recipes.read(recipe)).builder().writeTo(out);
        assertThat(r.method()).isEqualTo("slerp");
        assertThat(new Verifier(ProbeOptions.defaults()).verify(out, RealModels.bgeSmall()).allFinite()).isTrue();
        try (OnnxModel bge = OnnxModel.open(RealModels.bgeSmall()); OnnxModel m = OnnxModel.open(out)) {
            // layer 0 is at t = 0: its weights are bge's exactly; layer 11 at t = 0.5 is not
            assertThat(m.weight("encoder.layer.0.attention.self.query.bias").orElseThrow().toFloats())
                    .containsExactly(bge.weight("encoder.layer.0.attention.self.query.bias").orElseThrow().toFloats());
            assertThat(m.weight("encoder.layer.11.attention.self.query.bias").orElseThrow().toFloats())
                    .isNotEqualTo(bge.weight("encoder.layer.11.attention.self.query.bias").orElseThrow().toFloats());
        }
    }

    @Test
    void theRecursiveRecipeWritesASmallerModelThatRuns() throws IOException {
        String models = RealModels.bgeSmall().toAbsolutePath().getParent() + "/";
        String yaml = Files.readString(Path.of("recipes/bge-e5/recursive.yaml"))
                .replace("../../../cli/target/models/", models)
                .replace("../text/heldout.txt", Path.of("recipes/text/heldout.txt").toAbsolutePath().toString())
                .replace("samples: 256", "samples: 32");
        Path recipe = Files.writeString(dir.resolve("recursive.yaml"), yaml);
        Path out = dir.resolve("recursive.onnx");
        Object report = Recipes.read(recipe).run(out, dev.graft.exec.Execution.defaults());
        assertThat(report).isInstanceOf(dev.graft.adapters.RecursiveModel.Report.class);
        assertThat(((dev.graft.adapters.RecursiveModel.Report) report).fit()).isEqualTo("activations");
        assertThat(Files.size(out)).isLessThan(Files.size(RealModels.bgeSmall()) * 85 / 100);
        assertThat(new Verifier(ProbeOptions.defaults()).verify(out, RealModels.bgeSmall()).allFinite()).isTrue();
    }
}
