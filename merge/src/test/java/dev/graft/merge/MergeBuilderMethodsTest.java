package dev.graft.merge;

import dev.graft.recipe.Recipes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.InvalidSettingException;
import dev.graft.RecipeException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergeReport;
import dev.graft.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Methods run through the builder and recipes on small ONNX models. */
class MergeBuilderMethodsTest {
    @TempDir
    Path dir;

    private Path tiny(int seed) {
        return TinyModels.save(TinyModels.mlp(seed), dir.resolve("m" + seed + ".onnx"));
    }

    /**
     * With one model, paper-convention TIES returns base + trimmed task vector; with global_topk the k = ⌊0.3·N⌋
     * entries kept are the largest over all N entries of the model, found here by sorting them all.
     */
    @Test
    void globalTopKKeepsTheLargestEntriesOfTheWholeModel() {
        Path base = tiny(1);
        Path model = tiny(2);
        Path out = dir.resolve("out.onnx");
        Graft.merge().base(base).model(model, 1).method(new Ties(Convention.PAPER)).parameter("density", 0.3)
                .parameter("global_topk", 1).writeTo(out);
        try (OnnxModel b = OnnxModel.open(base); OnnxModel m = OnnxModel.open(model); OnnxModel o = OnnxModel.open(out)) {
            record Entry(String tensor, int index, float delta) {
            }
            List<Entry> all = new ArrayList<>();
            for (Weight w : b.initializers()) {
                if (!w.type().isFloatingPoint()) {
                    continue;
                }
                float[] x = w.toFloats();
                float[] y = m.weight(w.name()).orElseThrow().toFloats();
                for (int i = 0; i < x.length; i++) {
                    all.add(new Entry(w.name(), i, y[i] - x[i]));
                }
            }
            all.sort(Comparator.comparingDouble((Entry e) -> -Math.abs(e.delta())));
            int k = (int) (0.3 * all.size());
            java.util.Set<String> kept = new java.util.HashSet<>();
            for (Entry e : all.subList(0, k)) {
                kept.add(e.tensor() + "#" + e.index());
            }
            int keptInOutput = 0;
            for (Weight w : b.initializers()) {
                if (!w.type().isFloatingPoint()) {
                    continue;
                }
                float[] x = w.toFloats();
                float[] z = o.weight(w.name()).orElseThrow().toFloats();
                for (int i = 0; i < x.length; i++) {
                    boolean changed = z[i] != x[i];
                    assertThat(changed).as("%s[%d]", w.name(), i).isEqualTo(kept.contains(w.name() + "#" + i));
                    keptInOutput += changed ? 1 : 0;
                }
            }
            assertThat(keptInOutput).isEqualTo(k);
            // per tensor instead, the small b2 (3 entries) keeps ⌊0.3·3⌋ = 0 entries
            Graft.merge().base(base).model(model, 1).method(new Ties(Convention.PAPER)).parameter("density", 0.3)
                    .writeTo(dir.resolve("per-tensor.onnx"));
        }
    }

    @Test
    void randomMethodsGiveTheSameBytesWithOneAndFourThreads() throws IOException {
        Path base = tiny(1);
        Path a = tiny(2);
        Path b = tiny(3);
        for (String method : List.of("dare_ties", "dare_linear", "della", "della_linear")) {
            Path one = dir.resolve(method + "-1.onnx");
            Path four = dir.resolve(method + "-4.onnx");
            Path otherSeed = dir.resolve(method + "-seed.onnx");
            Graft.merge().base(base).model(a, 1).model(b, 1).method(MergeMethods.create(method))
                    .parameter("density", 0.5).seed(7).threads(1).writeTo(one);
            Graft.merge().base(base).model(a, 1).model(b, 1).method(MergeMethods.create(method))
                    .parameter("density", 0.5).seed(7).threads(4).memoryBudget(1).writeTo(four);
            Graft.merge().base(base).model(a, 1).model(b, 1).method(MergeMethods.create(method))
                    .parameter("density", 0.5).seed(8).writeTo(otherSeed);
            assertThat(Files.readAllBytes(four)).as(method).isEqualTo(Files.readAllBytes(one));
            assertThat(Files.readAllBytes(otherSeed)).as(method).isNotEqualTo(Files.readAllBytes(one));
        }
    }

    @Test
    void recipeWithGradientsAndFiltersRunsAndReportsDiagnostics() throws IOException {
        Path base = tiny(1);
        tiny(2);
        tiny(3);
        Path recipe = Files.writeString(dir.resolve("recipe.yaml"), String.join("\n",
                "merge_method: ties",
                "base_model: m1.onnx",
                "models:",
                "  - model: m2.onnx",
                "    parameters:",
                "      weight: 1.0",
                "      density: [0.2, 1.0]",
                "  - model: m3.onnx",
                "    parameters:",
                "      weight: [{filter: W, value: 0.5}, {value: 1.0}]",
                "      density: 0.5",
                "parameters:",
                "  normalize: true",
                "dtype: float16",
                ""));
        MergeReport r = ((MergeRecipe) Recipes.read(recipe)).builder().writeTo(dir.resolve("out.onnx"));
        assertThat(r.method()).isEqualTo("ties");
        assertThat(r.base().file()).isEqualTo(dir.resolve("m1.onnx").toString()); // the path, as the recipe resolves it
        assertThat(r.merged()).isEqualTo(4);
        assertThat(r.tensors()).hasSize(4);
        assertThat(r.tensors().get(0).norms()).hasSize(2).allMatch(n -> n > 0);
        // layer 0 (W1, b1) is at depth 0: density 0.2 for model 2; layer 1 (W2, b2) at depth 1: density 1.0
        assertThat(r.tensors().get(0).trimmed().get(0)).isEqualTo(1 - 6 / 32.0); // ⌊0.2·32⌋ = 6 kept of W1
        assertThat(r.tensors().get(2).trimmed().get(0)).isEqualTo(0.0); // density 1: nothing trimmed
        assertThat(r.layers()).extracting(l -> l.layer()).containsExactly("layer 0", "layer 1");
        try (OnnxModel out = OnnxModel.open(dir.resolve("out.onnx"))) {
            assertThat(out.weight("W1").orElseThrow().type()).isEqualTo(dev.graft.tensor.ElementType.FLOAT16);
        }
        assertThat(base).exists();
    }

    /**
     * A fraction outside [0, 1] (density 2, as if 0.2 were meant, or 20 for 20 %) is refused before anything is read
     * or written, naming the parameter, the model and the range; 0 and 1 themselves are taken.
     */
    @Test
    void fractionsOutsideZeroToOneAreRefused() {
        Path base = tiny(1);
        Path model = tiny(2);
        Path out = dir.resolve("out.onnx");
        for (double bad : new double[] {2, 20, -0.1, Double.NaN}) {
            assertThatThrownBy(() -> Graft.merge().base(base).model(model, 1).method(new Ties())
                    .parameter("density", bad).writeTo(out)).isInstanceOf(InvalidSettingException.class)
                    .hasMessageContaining("'density'").hasMessageContaining("must lie in [0, 1]")
                    .hasMessageContaining("got " + bad);
        }
        assertThatThrownBy(() -> Graft.merge().base(base).model(model, 1).method(new Breadcrumbs())
                .parameter("density", 0.5).parameter("gamma", 1.5).writeTo(out))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("'gamma'");
        assertThat(out).doesNotExist();
        for (double edge : new double[] {0, 1}) {
            Graft.merge().base(base).model(model, 1).method(new Ties()).parameter("density", edge).writeTo(out);
            assertThat(out).exists();
        }
    }

    @Test
    void badRecipesNameTheProblem() throws IOException {
        tiny(1);
        tiny(2);
        String ok = "merge_method: ties\nbase_model: m1.onnx\nmodels:\n  - model: m2.onnx\n    parameters: {weight: 1}\n";
        assertBad(ok + "tokenizer_source: base\n", "tokenizer_source");
        assertBad(ok + "merge_methd: ties\n", "unknown key 'merge_methd'");
        assertBad(ok.replace("weight: 1", "weight: 1, densty: 0.5"), "densty");
        assertBad(ok.replace("ties", "ties_v2"), "merge_method 'ties_v2' is not known");
        assertBad(ok.replace("base_model: m1.onnx\n", ""), "needs a base model");
        assertBad(ok.replace("    parameters: {weight: 1}\n", ""), "needs parameter 'weight'");
        assertBad(ok.replace("ties", "slerp").replace("    parameters: {weight: 1}\n", ""), "needs parameter 't'");
        assertBad(ok.replace("weight: 1", "weight: yes please"), "expected a number");
        assertBad(ok.replace("weight: 1", "weight: 1, density: 2"), "must lie in [0, 1], got 2.0 for m2.onnx");
        assertBad(ok + "parameters: {density: [0.2, 1.5]}\n", "must lie in [0, 1], got [0.2, 1.5] for the merge");
        assertBad(ok + "dtype: int8\n", "dtype");
        assertBad(ok + "convention: papers\n", "convention");
        assertBad("merge_method: [ties\n", "not valid YAML");
        assertBad(ok.replace("    parameters: {weight: 1}\n", "    params: {weight: 1}\n"), "unknown key 'params'");
    }

    private void assertBad(String yaml, String message) throws IOException {
        Path recipe = Files.writeString(dir.resolve("bad.yaml"), yaml);
        assertThatThrownBy(() -> Recipes.read(recipe)).isInstanceOf(RecipeException.class)
                .hasMessageContaining("bad.yaml").hasMessageContaining(message);
    }
}
