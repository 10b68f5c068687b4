package dev.graft.search;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.InvalidSettingException;
import dev.graft.RecipeException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.exec.Execution;
import dev.graft.recipe.Recipes;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A TIES recipe's weights and densities searched on the digits tasks ({@code examples/recipes/digits}). */
class RecipeGenomeTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    @TempDir
    Path dir;

    /**
     * The genome starts at the recipe's own numbers (weights 1, densities 0.5), where a candidate scores as the recipe
     * merged by {@code graft merge}; and any point's written recipe merges to the model the point's session runs.
     */
    @Test
    void aPointIsTheRecipeWithItsNumbers() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (RecipeGenome g = RecipeGenome.of(DIGITS.resolve("ties.yaml"), List.of("weight", "density"), 4)) {
            assertThat(g.size()).isEqualTo(6); // 3 models × 2 parameters × 1 group: the MLP has no numbered layers
            assertThat(g.initial()).containsExactly(1, 1, 1, 0.5, 0.5, 0.5);
            assertThat(g.describe()).isEqualTo("genome of ties: [weight, density] in 1 group");
            Path original = dir.resolve("original.onnx");
            Recipes.read(DIGITS.resolve("ties.yaml")).run(original, Execution.defaults());
            double[] x = new SplittableRandom(4).doubles(6, 0.2, 1).toArray();
            Path recipe = dir.resolve("point.yaml");
            g.writeRecipe(x, recipe);
            Path written = dir.resolve("point.onnx");
            Recipes.read(recipe).run(written, Execution.defaults());
            try (Candidate.Session start = g.session(g.initial()); Candidate.Session point = g.session(x)) {
                for (Task t : tasks) {
                    assertThat(t.score(start)).as(t.name()).isEqualTo(t.score(Candidate.of(original)));
                    assertThat(t.score(point)).as(t.name()).isEqualTo(t.score(Candidate.of(written)));
                }
            }
        }
    }

    /** A supervised search of the TIES recipe's densities and weights lowers the cross-entropy below the recipe's. */
    @Test
    void aSearchImprovesOnTheRecipesOwnNumbers() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (RecipeGenome g = RecipeGenome.of(DIGITS.resolve("ties.yaml"), List.of("weight", "density"), 1)) {
            CoefficientSearch search = CoefficientSearch.over(g, tasks).generations(6).seed(3);
            CoefficientSearch.Result r = search.run();
            assertThat(r.cost()).isLessThan(r.generations().get(0).bestCost() - 0.01);
            assertThat(r.generations().get(0).best()).containsExactly(1, 1, 1, 0.5, 0.5, 0.5);
        }
    }

    @Test
    void parametersItCannotSearchAreRefused() {
        try (RecipeGenome g = RecipeGenome.of(DIGITS.resolve("ties.yaml"), List.of("weight"), 1)) {
            assertThatThrownBy(() -> g.writeRecipe(new double[2], dir.resolve("x.yaml")))
                    .isInstanceOf(InvalidSettingException.class).hasMessageContaining("2 numbers given")
                    .hasMessageContaining("ties.yaml").hasMessageContaining("which has 3");
        }
        assertThatThrownBy(() -> RecipeGenome.of(DIGITS.resolve("ties.yaml"), List.of("fuzz"), 1))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("'ties' has no parameter 'fuzz'")
                .hasMessageContaining("density");
        assertThatThrownBy(() -> RecipeGenome.of(DIGITS.resolve("ties.yaml"), List.of("normalize"), 1))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("no known search bounds");
        assertThatThrownBy(() -> RecipeGenome.of(Path.of("../examples/recipes/independent/pleas.yaml"),
                List.of("weight"), 1)).isInstanceOf(RecipeException.class).hasMessageContaining("tensor-wise");
    }
}
