package dev.graft.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.RecipeException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import dev.graft.testing.NpyFiles;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tasks on real text models, task files, and the report. */
class EvaluationTest {
    private static final Path TEXT = Path.of("../examples/recipes/text");

    @TempDir
    Path dir;

    private static Path tokenizer() {
        return RealModels.bgeSmall().resolveSibling("bge-small-en-v1.5-tokenizer.json");
    }

    private static Task retrieval(int pairs) {
        return Task.of("retrieval", TaskData.text(TEXT.resolve("retrieval.tsv"), TaskData.Layout.PAIRS, tokenizer(),
                pairs, List.of()), Metric.MRR).withPooling(Pooling.MEAN);
    }

    /**
     * Texts are batched by length, not in file order: a selection of them still gives each chosen text's pooled
     * embedding, in the order chosen, and its documents with it.
     */
    @Test
    void aSelectionOfTextsKeepsEachTextsEmbedding() {
        Task all = retrieval(24);
        int[] picked = {0, 5, 6, 13, 23};
        Task some = all.select(picked);
        try (Candidate.Session s = Candidate.of(RealModels.bgeSmall()).open()) {
            float[][] full = all.pooled(s);
            float[][] chosen = some.pooled(s);
            assertThat(chosen).hasNumberOfRows(picked.length);
            for (int k = 0; k < picked.length; k++) {
                for (int d = 0; d < full[0].length; d++) {
                    assertThat(chosen[k][d]).as("text %d, dimension %d", picked[k], d)
                            .isCloseTo(full[picked[k]][d], within(1e-4f));
                }
            }
            assertThat(some.score(s)).isBetween(0.0, 1.0);
        }
    }

    /**
     * On 60 docstring pairs, bge finds the right document far more often than chance (random ranking gives an MRR
     * of H(60)/60 ≈ 0.078), and so does all-MiniLM fed the same tokens; the ensemble of a model with itself is
     * the model.
     */
    @Test
    void embeddingModelsRetrieveTheirOwnDocumentsFarAboveChance() {
        Path bge = RealModels.bgeSmall();
        Task mrr = retrieval(60);
        double chance = 0;
        for (int k = 1; k <= 60; k++) {
            chance += 1.0 / k;
        }
        chance /= 60;
        double own = mrr.evaluate(bge);
        assertThat(own).isGreaterThan(5 * chance).isLessThanOrEqualTo(1.0);
        assertThat(mrr.evaluate(RealModels.miniLm())).isGreaterThan(2 * chance);
        assertThat(mrr.score(Candidate.ensemble("bge twice", List.of(bge, bge)))).isCloseTo(own, within(1e-9));
        assertThat(mrr.score(Candidate.ensemble("bge and e5", List.of(bge, RealModels.e5Small()))))
                .isNotCloseTo(own, within(1e-6)).isGreaterThan(0.3);
    }

    /**
     * bge's graph with every float weight of e5 given in memory computes e5: it scores as the e5 file does, and
     * its similarity to e5 is 1 while bge's is not.
     */
    @Test
    void aCandidateBuiltInMemoryScoresAsTheModelItsWeightsComeFrom() {
        Path bge = RealModels.bgeSmall();
        Path e5 = RealModels.e5Small();
        Map<String, ModelRunner.Input> weights = new LinkedHashMap<>();
        try (OnnxModel model = OnnxModel.open(e5)) {
            for (Weight w : model.weights()) {
                if (w.type() == ElementType.FLOAT) {
                    weights.put(w.name(), ModelRunner.Input.of(w.toFloats(), w.shape()));
                }
            }
        }
        Candidate e5InBge = Candidate.inMemory("e5 in bge's graph", bge, weights);
        Task mrr = retrieval(40);
        assertThat(mrr.score(e5InBge)).isCloseTo(mrr.evaluate(e5), within(1e-6));
        Task similarity = Task.of("close to e5", TaskData.text(TEXT.resolve("sentences.txt"), TaskData.Layout.PLAIN,
                tokenizer(), 24, List.of()), Metric.SIMILARITY).withReference(e5);
        assertThat(similarity.score(e5InBge)).isCloseTo(1.0, within(1e-5));
        assertThat(similarity.evaluate(bge)).isLessThan(0.99);
    }

    /** A task file of two labelled text tasks (TSV with class names, JSONL with indexes), evaluated from the file. */
    @Test
    void aTaskFileDescribesLabelledTextTasksAndTheReportNormalizesByTheFineTunedModel() throws IOException {
        Path bge = RealModels.bgeSmall();
        Path e5 = RealModels.e5Small();
        Files.copy(tokenizer(), dir.resolve("tokenizer.json"));
        // is the text a question? a linear head on the mean-pooled embedding: the first dimensions, by hand
        Files.writeString(dir.resolve("questions.tsv"), """
                yes\tWhat is the capital of France?
                no\tParis is the capital of France.
                yes\tHow do I merge two models?
                no\tThe merge finished in four seconds.
                """);
        Files.writeString(dir.resolve("questions.jsonl"), """
                {"text": "Why is the sky blue?", "label": 1}
                {"text": "The sky is blue.", "label": 0}
                """);
        float[] head = new float[2 * 384];
        head[0] = 1;
        head[384 + 1] = 1;
        NpyFiles.write(dir.resolve("head.npy"), head, 2, 384);
        Files.writeString(dir.resolve("tasks.yaml"), """
                tokenizer: tokenizer.json
                tasks:
                  - name: questions
                    data: questions.tsv
                    classes: ["no", "yes"]
                    head: head.npy
                    pooling: mean
                    fine_tuned: %s
                  - name: more questions
                    data: questions.jsonl
                    metric: cross_entropy
                    head: head.npy
                """.formatted(e5.toAbsolutePath()));
        Evaluation evaluation = Evaluation.read(dir.resolve("tasks.yaml"));
        EvaluationReport r = evaluation.run(Evaluation.files(List.of(bge)));
        Task questions = evaluation.tasks().get(0);
        double bgeScore = questions.evaluate(bge);
        double e5Score = questions.evaluate(e5);
        assertThat(r.score(0, 0)).isEqualTo(bgeScore);
        assertThat(r.fineTuned()[0]).isEqualTo(e5Score);
        assertThat(r.normalized(0, 0)).isCloseTo(bgeScore / e5Score, within(1e-12));
        assertThat(r.average(0)).isEqualTo(bgeScore); // cross-entropy is not averaged with accuracies
        assertThat(r.normalized(0, 1)).isNaN();
        assertThat(r.table()).contains("| questions (accuracy) | more questions (cross_entropy) | average | normalized |")
                .contains("| bge-small-en-v1.5 |");
        JsonNode json = new ObjectMapper().readTree(r.json());
        assertThat(json.at("/models/0/scores/questions").asDouble()).isEqualTo(bgeScore);
        assertThat(json.at("/models/0/normalized/more questions").isNull()).isTrue();
        assertThat(json.at("/tasks/1/metric").asText()).isEqualTo("cross_entropy");
        assertThat(r.svg()).contains("<svg").contains("<title>bge-small-en-v1.5, questions: ");
    }

    @Test
    void badTaskFilesNameTheFileTheTaskAndTheProblem() throws IOException {
        Files.copy(tokenizer(), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("labels.tsv"), "yes\tA question?\nmaybe\tAn answer.\n");
        Files.writeString(dir.resolve("lines.txt"), "one line\n");
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("tasks:\n  - name: t\n    data: labels.tsv\n    tokenizer: tokenizer.json\n    colour: red\n",
                "unknown key 'colour' in task 't'");
        cases.put("tasks:\n  - name: t\n    data: labels.tsv\n", "text data needs a tokenizer");
        cases.put("tasks:\n  - name: t\n    data: lines.txt\n    tokenizer: tokenizer.json\n    metric: similarity\n",
                "similarity needs 'reference'");
        cases.put("tasks:\n  - name: t\n    data: lines.txt\n    tokenizer: tokenizer.json\n    metric: f1\n",
                "unknown metric 'f1'");
        cases.put("tasks: []\n", "needs 'tasks'");
        cases.put("tasks:\n  - name: t\n    data: labels.tsv\n    tokenizer: tokenizer.json\n    pooling: max\n",
                "unknown pooling 'max'");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Path file = Files.writeString(dir.resolve("tasks.yaml"), c.getKey());
            assertThatThrownBy(() -> Evaluation.read(file)).as(c.getKey()).isInstanceOf(RecipeException.class)
                    .hasMessageContaining("tasks.yaml").hasMessageContaining(c.getValue());
        }
        Path file = Files.writeString(dir.resolve("tasks.yaml"), "tasks:\n  - name: t\n    data: labels.tsv\n"
                + "    tokenizer: tokenizer.json\n    classes: [\"no\", \"yes\"]\n");
        assertThatThrownBy(() -> Evaluation.read(file)).isInstanceOf(GraftException.class)
                .hasMessageContaining("labels.tsv").hasMessageContaining("line 2 has label 'maybe'");
        Path noTab = Files.writeString(dir.resolve("tasks.yaml"), "tasks:\n  - name: t\n    data: lines.txt\n"
                + "    tokenizer: tokenizer.json\n    metric: mrr\n");
        assertThatThrownBy(() -> Evaluation.read(noTab)).isInstanceOf(GraftException.class)
                .hasMessageContaining("lines.txt").hasMessageContaining("line 1 has no tab; expected query<TAB>document");
    }
}
