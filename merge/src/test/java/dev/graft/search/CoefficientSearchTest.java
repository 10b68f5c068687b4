package dev.graft.search;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.exec.Execution;
import dev.graft.onnx.OnnxModel;
import dev.graft.recipe.Recipes;
import dev.graft.verify.ModelRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Coefficient searches on the digits tasks ({@code examples/recipes/digits}: an MLP and three fine-tunes): the
 * candidates' model computes exactly the merges it stands for, and AdaMerging's entropy search finds coefficients
 * at least as good as task arithmetic's λ = 0.3 it starts from.
 */
class CoefficientSearchTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    @TempDir
    Path dir;

    private static List<Path> fineTunes() {
        return List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"), DIGITS.resolve("task_c.onnx"));
    }

    /**
     * For random coefficients, each task scores the same on the candidates' model fed them as on the base with the
     * mixed weights computed in Java (ONNX Runtime given them in place of the base's), and as on the model its recipe
     * merges: per task, per layer and per tensor.
     */
    @Test
    void theCandidatesModelComputesTheMergeItStandsFor() throws java.io.IOException {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        SplittableRandom r = new SplittableRandom(3);
        for (CoefficientBlocks.Granularity g : CoefficientBlocks.Granularity.values()) {
            try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(), g,
                    dir.resolve(g.name() + "-candidates.onnx"))) {
                assertThat(m.tasks()).isEqualTo(3);
                assertThat(m.blocks().size()).as(g.name()).isEqualTo(switch (g) {
                    case TASK -> 1;
                    case LAYER -> 2; // the MLP's two layers (modules: no numbered layers)
                    case TENSOR -> 4; // two weights, two biases
                    case GROUP -> 1; // no numbered layers: one group
                });
                double[] c = r.doubles(m.size(), 0, 1).toArray();
                Path written = writeRecipeOf(m, c, g.name());
                EvaluationReport inMemory = Evaluation.of(tasks)
                        .run(List.of(Candidate.merged("java", m.weights(c)), Candidate.of("file", written)));
                try (Candidate.Session s = m.session(c)) {
                    for (int t = 0; t < tasks.size(); t++) {
                        assertThat(tasks.get(t).score(s)).as(g + " " + tasks.get(t).name())
                                .isEqualTo(inMemory.scores()[0][t]).isEqualTo(inMemory.scores()[1][t]);
                    }
                }
            }
        }
    }

    /**
     * On the decoder fixtures (two numbered layers, a tied head): layer-wise blocks are the embeddings, each layer
     * and the final norm; two layer groups put the embeddings with layer 0 and the norm with layer 1; the tied head
     * takes its table's coefficient, and per tensor has no coefficient of its own (every coefficient moves some
     * tensor); and the candidates' perplexities equal those of the models their recipes merge.
     */
    @Test
    void decoderBlocksFollowTheLayersAndTheCandidatesAreTheirRecipes() {
        Path decoders = Path.of("../examples/recipes/decoders");
        List<Path> tuned = List.of(decoders.resolve("optimum/licence/model.onnx"),
                decoders.resolve("optimum/python/model.onnx"));
        List<Task> tasks = TaskFile.read(decoders.resolve("tasks.yaml"));
        try (CoefficientModel layer = CoefficientModel.build(decoders.resolve("optimum/base/model.onnx"), tuned,
                CoefficientBlocks.Granularity.LAYER, dir.resolve("layer.onnx"));
             CoefficientModel group = CoefficientModel.build(decoders.resolve("optimum/base/model.onnx"), tuned,
                     CoefficientBlocks.Granularity.GROUP, 2, dir.resolve("group.onnx"));
             CoefficientModel tensor = CoefficientModel.build(decoders.resolve("optimum/base/model.onnx"), tuned,
                     CoefficientBlocks.Granularity.TENSOR, dir.resolve("tensor.onnx"))) {
            assertThat(layer.blocks().names()).containsExactly("embeddings", "layer 0", "layer 1", "head");
            assertThat(group.blocks().names()).containsExactly("group 0", "group 1");
            assertThat(CoefficientSearch.over(layer, tasks).objective()) // perplexity: the tasks' own metric
                    .isEqualTo(CoefficientSearch.Objective.SCORE);
            assertThat(group.blocks().blockOf()).containsEntry("model.embed_tokens.weight", 0)
                    .containsEntry("model.norm.weight", 1);
            java.util.Map<String, Integer> blockOf = layer.blocks().blockOf();
            String head = blockOf.keySet().stream().filter(n -> n.startsWith("onnx::MatMul")
                    && blockOf.get(n) == 0).findFirst().orElseThrow(); // the transposed copy of the embedding
            assertThat(head).isNotNull();
            java.util.Map<String, Integer> perTensor = tensor.blocks().blockOf();
            assertThat(tensor.blocks().names()).doesNotContain(head).contains("model.embed_tokens.weight");
            assertThat(perTensor.get(head)).isEqualTo(perTensor.get("model.embed_tokens.weight"));
            assertThat(new java.util.HashSet<>(perTensor.values())).hasSize(tensor.blocks().size());
            for (CoefficientModel m : List.of(layer, group, tensor)) {
                double[] c = new SplittableRandom(9).doubles(m.size(), 0, 1).toArray();
                Path recipe = dir.resolve(m.blocks().granularity() + ".yaml");
                m.writeRecipe(c, recipe);
                Path written = dir.resolve(m.blocks().granularity() + "-merged.onnx");
                Recipes.read(recipe).run(written, Execution.defaults());
                try (Candidate.Session s = m.session(c)) {
                    for (Task t : tasks) {
                        assertThat(t.score(s)).as(m.describe() + " " + t.name())
                                .isCloseTo(t.score(Candidate.of(written)), within(1e-4 * t.score(s)));
                    }
                }
            }
        }
    }

    /** Candidate {@code c} merged by running its recipe ({@link SearchRecipe}), as {@code graft merge} would. */
    private Path writeRecipeOf(CoefficientModel m, double[] c, String name) {
        Path recipe = dir.resolve(name + ".yaml");
        m.writeRecipe(c, recipe);
        Path written = dir.resolve(name + ".onnx");
        Recipes.read(recipe).run(written, Execution.defaults());
        return written;
    }

    /**
     * The same outputs, not only the same accuracy: the candidates' model's logits on the digits equal those of the
     * candidate's recipe merged (every tensor its own coefficients) to float32 rounding.
     */
    @Test
    void theCandidatesLogitsEqualTheWrittenMerges() throws Exception {
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.TENSOR, dir.resolve("candidates.onnx"))) {
            double[] c = new SplittableRandom(5).doubles(m.size(), -0.5, 1.5).toArray();
            Path written = writeRecipeOf(m, c, "written");
            float[] x = new float[4 * 64];
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextDouble(0, 16);
            }
            String input;
            try (OnnxModel base = OnnxModel.open(DIGITS.resolve("base.onnx"))) {
                input = base.proto().getGraph().getInput(0).getName();
            }
            Map<String, ModelRunner.Input> in = Map.of(input, ModelRunner.Input.of(x, 4, 64));
            try (Candidate.Session file = Candidate.of(written).open(); Candidate.Session s = m.session(c)) {
                String out = file.outputNames().get(0);
                float[] expected = file.run(in, out).values();
                float[] mixed = s.run(in, out).values();
                for (int i = 0; i < expected.length; i++) {
                    assertThat(mixed[i]).isCloseTo(expected[i], within(1e-4f + 1e-5f * Math.abs(expected[i])));
                }
            }
        }
    }

    /**
     * Task-wise AdaMerging lowers the mean entropy of the predictions below that of task arithmetic at λ = 0.3, where
     * it starts, keeping the coefficients in [0, 1]. (On these tasks, whose fine-tunes share one 10-way head and
     * contradict each other, a confident model is not an accurate one: the accuracy falls, as the README reports, so
     * it is not asserted here.) A checkpointed search stopped halfway and resumed ends where the uninterrupted one
     * does.
     */
    @Test
    void adaMergingLowersTheEntropy() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.TASK, dir.resolve("candidates.onnx"))) {
            CoefficientSearch search = CoefficientSearch.over(m, tasks).objective(CoefficientSearch.Objective.ENTROPY)
                    .generations(12).seed(1);
            assertThat(CoefficientSearch.over(m, tasks).objective()).isEqualTo(CoefficientSearch.Objective.SUPERVISED);
            double[] start = {0.3, 0.3, 0.3};
            CoefficientSearch.Result r = search.run();
            assertThat(r.generations()).hasSize(13).first().satisfies(g -> assertThat(g.best()).containsExactly(start));
            assertThat(r.cost()).isLessThan(search.cost(start)).isEqualTo(search.cost(r.coefficients()));
            for (double c : r.coefficients()) {
                assertThat(c).isBetween(0.0, 1.0);
            }

            Path checkpoint = dir.resolve("search.json");
            CoefficientSearch.over(m, tasks).objective(CoefficientSearch.Objective.ENTROPY).generations(6).seed(1)
                    .checkpoint(checkpoint).run();
            CoefficientSearch.Result resumed = CoefficientSearch.over(m, tasks)
                    .objective(CoefficientSearch.Objective.ENTROPY).generations(12).seed(1).checkpoint(checkpoint).run();
            assertThatThrownBy(() -> CoefficientSearch.over(m, tasks).generations(12).checkpoint(checkpoint).run())
                    .isInstanceOf(InvalidSettingException.class).hasMessageContaining("of another search (entropy");
            assertThat(resumed.coefficients()).containsExactly(r.coefficients());
            assertThat(resumed.generations()).hasSize(13);
            checkpointsThatDoNotFitAreRefused(checkpoint);
        }
    }

    /**
     * A checkpoint that parses but does not hold one whole search (a covariance row short, a path missing, a value
     * not finite, a population no search could run) is refused naming the file before anything is allocated from it.
     */
    private void checkpointsThatDoNotFitAreRefused(Path written) {
        String good;
        try {
            good = Files.readString(written);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertThat(CoefficientSearch.Checkpoint.read(written).state().mean()).hasSize(3);
        Map<String, String> damage = Map.of(
                "covariance", good.replaceFirst("\"covariance\" : \\[ \\[ [^]]*\\]", "\"covariance\" : [ [ 1.0 ]"),
                "pathC", good.replaceFirst("\"pathC\" : \\[[^]]*\\]", "\"pathC\" : null"),
                "not finite", good.replaceFirst("\"sigma\" : [0-9.eE-]+,\\s*\"covariance", "\"sigma\" : -1.0, \"covariance"),
                "population", good.replaceFirst("\"population\" : [0-9]+", "\"population\" : 2000000000"),
                "generations", good.replaceFirst("\"generations\" : \\[", "\"generations\" : [ null, "));
        damage.forEach((what, text) -> {
            assertThat(text).as(what).isNotEqualTo(good);
            Path bad = dir.resolve("bad-" + what.replace(' ', '-') + ".json");
            try {
                Files.writeString(bad, text);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            assertThatThrownBy(() -> CoefficientSearch.Checkpoint.read(bad)).as(what)
                    .isInstanceOf(dev.graft.GraftException.class).hasMessageContaining(bad.toString())
                    .hasMessageContaining("is not a search checkpoint").hasMessageContaining("remove it to start anew");
        });
    }

    /**
     * The supervised search (aTLAS's objective: cross-entropy on labelled samples), layer-wise, lowers the
     * cross-entropy on the samples it sees below task arithmetic's at λ = 0.3. (Not the accuracy: here it loses a
     * point, trading one task's confidence for another's; the README has the held-out numbers.)
     */
    @Test
    void aSupervisedSearchLowersTheCrossEntropy() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.LAYER, dir.resolve("candidates.onnx"))) {
            CoefficientSearch search = CoefficientSearch.over(m, tasks)
                    .objective(CoefficientSearch.Objective.SUPERVISED).generations(15).seed(2);
            double[] start = new double[m.size()];
            java.util.Arrays.fill(start, 0.3);
            CoefficientSearch.Result r = search.run();
            assertThat(r.cost()).isLessThan(search.cost(start) - 0.01);
        }
    }

    /**
     * A sample budget scores each task on its first samples only, the same ones every time: on the digits the first
     * 50 rows (accuracy counted by hand from the whole task's logits), on text reordered by length the first 7 lines
     * (their pooled outputs are the whole task's first 7 rows).
     */
    @Test
    void aSampleBudgetTakesEachTasksFirstSamples() {
        Task digits = TaskFile.read(DIGITS.resolve("tasks.yaml")).get(0);
        try (Candidate.Session s = Candidate.of(DIGITS.resolve("base.onnx")).open()) {
            float[][] all = digits.logits(s);
            assertThat(digits.first(50).logits(s)).hasNumberOfRows(50);
            double correct = 0;
            dev.graft.data.NpyArray y = dev.graft.data.NpyArray.read(DIGITS.resolve("task_a_y.npy"));
            for (int i = 0; i < 50; i++) {
                int best = 0;
                for (int k = 1; k < all[i].length; k++) {
                    best = all[i][k] > all[i][best] ? k : best;
                }
                correct += best == y.longs()[i] ? 1 : 0;
            }
            assertThat(digits.first(50).score(s)).isEqualTo(correct / 50);
        }
        Path decoders = Path.of("../examples/recipes/decoders");
        Task text = TaskFile.read(decoders.resolve("tasks.yaml")).get(0);
        try (Candidate.Session s = Candidate.of(decoders.resolve("optimum/base/model.onnx")).open()) {
            float[][] all = text.pooled(s);
            float[][] first = text.first(7).pooled(s);
            assertThat(first).hasNumberOfRows(7);
            for (int i = 0; i < 7; i++) {
                for (int j = 0; j < first[i].length; j++) {
                    assertThat(first[i][j]).isCloseTo(all[i][j], within(1e-4f));
                }
            }
        }
        assertThatThrownBy(() -> text.first(0)).isInstanceOf(InvalidSettingException.class);
    }

    /** Candidates evaluated two at a time give the search evaluated one at a time, to the last bit. */
    @Test
    void parallelEvaluationGivesTheSameSearch() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.LAYER, dir.resolve("candidates.onnx"))) {
            CoefficientSearch.Result one = CoefficientSearch.over(m, tasks).generations(4).seed(5).run();
            CoefficientSearch.Result two = CoefficientSearch.over(m, tasks).generations(4).seed(5).threads(2).run();
            assertThat(two.coefficients()).containsExactly(one.coefficients());
            assertThat(two.generations()).usingRecursiveComparison().isEqualTo(one.generations());
        }
    }

    /**
     * A user's own {@link dev.graft.eval.Evaluator} (not a task: it sees only a model file) scores a candidate as the
     * model the candidate's recipe merges, alone or beside tasks, and a short search on it never ends worse than its
     * start; evaluators with another objective than score, with a remote engine, or nothing to score are refused.
     */
    @Test
    void aUsersOwnEvaluatorScoresTheWrittenCandidate() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        java.util.concurrent.atomic.AtomicInteger files = new java.util.concurrent.atomic.AtomicInteger();
        dev.graft.eval.Evaluator own = new dev.graft.eval.Evaluator() { // task A's accuracy, computed by the user
            @Override
            public String name() {
                return "own";
            }

            @Override
            public boolean higherIsBetter() {
                return true;
            }

            @Override
            public double evaluate(Path model) {
                files.incrementAndGet();
                return tasks.get(0).evaluate(model);
            }
        };
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.TASK, dir.resolve("candidates.onnx"))) {
            double[] c = {0.2, 0.6, 0.4};
            double expected = tasks.get(0).evaluate(writeRecipeOf(m, c, "own"));
            CoefficientSearch alone = CoefficientSearch.over(m, List.of()).evaluators(List.of(own));
            assertThat(alone.objective()).isEqualTo(CoefficientSearch.Objective.SCORE);
            assertThat(alone.cost(c)).isEqualTo(-expected);
            double withTask = CoefficientSearch.over(m, List.of(tasks.get(1))).evaluators(List.of(own)).cost(c);
            double taskB;
            try (Candidate.Session s = m.session(c)) {
                taskB = tasks.get(1).score(s);
            }
            assertThat(withTask).isCloseTo(-(expected + taskB) / 2, within(1e-12));
            CoefficientSearch.Result r = CoefficientSearch.over(m, List.of()).evaluators(List.of(own)).generations(2)
                    .population(4).seed(3).run();
            assertThat(r.cost()).isLessThanOrEqualTo(r.generations().get(0).bestCost());
            assertThat(files.get()).isEqualTo(2 + 1 + 2 * 4); // two costs above, then the start and 2 generations of 4
            assertThatThrownBy(() -> CoefficientSearch.over(m, tasks).evaluators(List.of(own))
                    .objective(CoefficientSearch.Objective.ENTROPY).cost(c))
                    .isInstanceOf(InvalidSettingException.class).hasMessageContaining("objective must be score");
            assertThatThrownBy(() -> CoefficientSearch.over(m, List.of()).evaluators(List.of(own))
                    .engine(points -> new double[points.length]).run())
                    .isInstanceOf(InvalidSettingException.class).hasMessageContaining("remote engine");
            assertThatThrownBy(() -> CoefficientSearch.over(m, List.of()).cost(c))
                    .isInstanceOf(InvalidSettingException.class).hasMessageContaining("at least one task or evaluator");
        }
    }

    @Test
    void badInputsAreRefused() {
        assertThatThrownBy(() -> CoefficientModel.build(DIGITS.resolve("base.onnx"), List.of(DIGITS.resolve("base.onnx")),
                CoefficientBlocks.Granularity.TASK, dir.resolve("candidates.onnx"))).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("nothing to search");
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), fineTunes(),
                CoefficientBlocks.Granularity.LAYER, dir.resolve("bad.onnx"))) {
            assertThatThrownBy(() -> m.session(new double[3])).isInstanceOf(InvalidSettingException.class)
                    .hasMessageContaining("3 coefficients given").hasMessageContaining("base.onnx")
                    .hasMessageContaining("3 tasks × 2 layer blocks = 6");
        }
        assertThatThrownBy(() -> CoefficientBlocks.Granularity.named("block"))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("task, layer, tensor");
        assertThatThrownBy(() -> CoefficientSearch.Objective.named("loss"))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("entropy, supervised, score");
    }
}
