package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.RecipeException;
import dev.graft.exec.Execution;
import dev.graft.recipe.Recipes;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sharing recipes: lora_share and lora_recursive, run as the API runs them, and their bad forms. */
class LoraRecipeTest {
    @TempDir
    Path dir;

    private static Object run(Path recipe, Path out) {
        return Recipes.read(recipe).run(out, Execution.defaults());
    }

    private Path recipe(String yaml) throws Exception {
        return Files.writeString(dir.resolve("recipe.yaml"), yaml);
    }

    @Test
    void aShareRecipeGivesTheSameAdapterAsTheApi() throws Exception {
        Map<String, LoraModule> modules = new java.util.LinkedHashMap<>();
        for (int l = 0; l < 3; l++) {
            String name = "encoder.layer." + l + ".attention.self.query";
            float[] a = new float[2 * 6];
            float[] b = new float[5 * 2];
            for (int k = 0; k < a.length; k++) {
                a[k] = (float) Math.sin(k + l);
            }
            for (int k = 0; k < b.length; k++) {
                b[k] = (float) Math.cos(k * l + 1);
            }
            modules.put(name, new LoraModule(name, 2, 6, 5, a, b, 1));
        }
        new PeftAdapter(PeftConfig.of(2, 2, List.of("query")), modules, Map.of()).write(dir.resolve("in"));
        Object report = run(recipe("merge_method: lora_share\nadapter: in\nrank: 3\ngroups: 1\n"),
                dir.resolve("by-recipe"));
        List<LoraShare.Kind> api = LoraShare.from(dir.resolve("in")).rank(3).writeTo(dir.resolve("by-api"));
        assertThat((List<?>) report).hasSize(1);
        assertThat(Files.readAllBytes(dir.resolve("by-recipe").resolve("adapter_model.safetensors")))
                .isEqualTo(Files.readAllBytes(dir.resolve("by-api").resolve("adapter_model.safetensors")));
        assertThat(api).hasSize(1);
        assertThatThrownBy(() -> run(recipe("merge_method: lora_share\nadapter: in\nbase_model: x.onnx\n"),
                dir.resolve("out"))).isInstanceOf(RecipeException.class)
                .hasMessageContaining("either adapter or both base_model and fine_tuned");
        assertThatThrownBy(() -> run(recipe("merge_method: lora_share\nadapter: in\ngroups: 0\n"),
                dir.resolve("out"))).isInstanceOf(RecipeException.class).hasMessageContaining("groups must be positive");
        assertThat(dir.resolve("out")).doesNotExist();
    }

    @Test
    void aRecursiveRecipeTiesTheLayers() throws Exception {
        Files.copy(RealModels.bgeSmall(), dir.resolve("bge.onnx"));
        Object report = run(recipe("merge_method: lora_recursive\nbase_model: bge.onnx\nblocks: 4\n"
                + "rank: 0\ntying: cyclic\n"), dir.resolve("rec.onnx"));
        assertThat(report).isInstanceOf(RecursiveModel.Report.class);
        assertThat(((RecursiveModel.Report) report).tying()).isEqualTo("cyclic");
        try (OnnxModel m = OnnxModel.open(dir.resolve("rec.onnx"))) {
            assertThat(m.initializers().stream().filter(w -> w.name().startsWith("recursive.block")).count())
                    .isEqualTo(4 * 6);
        }
        assertThatThrownBy(() -> run(recipe("merge_method: lora_recursive\nbase_model: bge.onnx\n"
                + "blocks: 4\ntying: spiral\n"), dir.resolve("out.onnx"))).isInstanceOf(RecipeException.class)
                .hasMessageContaining("consecutive or cyclic");
        assertThatThrownBy(() -> run(recipe("merge_method: lora_recursive\nbase_model: bge.onnx\n"
                + "blocks: 4\nranks: 8\n"), dir.resolve("out.onnx"))).isInstanceOf(RecipeException.class)
                .hasMessageContaining("unknown key 'ranks'");
        assertThatThrownBy(() -> run(recipe("merge_method: lora_recursive\nbase_model: bge.onnx\n"),
                dir.resolve("out.onnx"))).isInstanceOf(RecipeException.class).hasMessageContaining("needs base_model "
                + "and blocks");
        assertThat(dir.resolve("out.onnx")).doesNotExist();
    }

    @Test
    void aComposeRecipeNamingAnUnknownMethodIsARecipeError() throws Exception {
        Path recipe = recipe("merge_method: lora_compose\nadapters: [in]\nmethod: tiess\n");
        assertThatThrownBy(() -> Recipes.read(recipe)).isInstanceOf(RecipeException.class)
                .hasMessageContaining("recipe.yaml").hasMessageContaining("unknown merge method 'tiess'")
                .hasMessageContaining("ties");
    }
}
