package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.data.NpyArray;
import dev.graft.data.TextFiles;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Task;
import dev.graft.exec.Execution;
import dev.graft.regmean.RegMean;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The text benchmark's fine-tunes, rebuilt by Graft from their committed adapters, are the models that were
 * trained (their logits on a few validation texts are those torch computed), each is better on its task than the
 * pretrained model with the same head, and RegMean's merge of the five is at least as good as their average.
 */
class TextTasksTest {
    private static final Path FOLDER = Path.of("recipes/text-tasks");

    @TempDir
    Path dir;

    @Test
    void fineTunesRebuiltFromAdaptersAreTheTrainedModelsAndRegMeanBeatsTheAverage() {
        Path base = RealModels.bgeSmall();
        Path tokenizer = base.resolveSibling("bge-small-en-v1.5-tokenizer.json");
        TextTasks tasks = new TextTasks(FOLDER, base, tokenizer);
        Map<String, Path> fineTuned = new LinkedHashMap<>();
        for (String task : TextTasks.NAMES) {
            fineTuned.put(task, tasks.rebuild(task, dir.resolve(task + ".onnx")));
            assertThat(logits(fineTuned.get(task), tokenizer, FOLDER.resolve("models").resolve(task)))
                    .as(task).isTrue();
        }
        List<Task> test = tasks.tasks("test", fineTuned);
        for (Task t : test) {
            double own = t.evaluate(fineTuned.get(t.name()));
            double pretrained = t.evaluate(base);
            System.out.printf("%s: pretrained %.3f, fine-tuned %.3f%n", t.name(), pretrained, own);
            assertThat(own).as(t.name()).isGreaterThan(pretrained);
        }
        List<Path> inputs = new ArrayList<>(fineTuned.values());
        EvaluationReport r = Evaluation.of(test).run(List.of(
                Candidate.merged("average", dev.graft.Graft.merge().method(new dev.graft.merge.Linear())
                        .model(inputs.get(0), 1).model(inputs.get(1), 1).model(inputs.get(2), 1)
                        .model(inputs.get(3), 1).model(inputs.get(4), 1).diagnostics(false).inMemory()),
                Candidate.merged("regmean", RegMean.merge(inputs).calibration(tasks.calibration(128))
                        .inMemory(Execution.defaults()))));
        System.out.print(r.table());
        assertThat(r.average(1)).isGreaterThanOrEqualTo(r.average(0));
    }

    /**
     * Whether {@code model}'s logits on {@code check.tsv} (mean-pooled last hidden state, through the head, all
     * worked out here) are {@code check_logits.npy}, which torch computed for the trained model.
     */
    private static boolean logits(Path model, Path tokenizer, Path folder) {
        List<String> texts = TextFiles.lines(folder.resolve("check.tsv")).stream().filter(l -> !l.isBlank())
                .map(l -> l.substring(l.indexOf('\t') + 1)).toList();
        NpyArray expected = NpyArray.read(folder.resolve("check_logits.npy"));
        NpyArray head = NpyArray.read(folder.resolve("head.npy"));
        NpyArray bias = NpyArray.read(folder.resolve("head_bias.npy"));
        int classes = (int) head.shape()[0];
        int width = (int) head.shape()[1];
        Calibration data = Calibration.texts("check", texts, tokenizer, CalibrationSpec.MAX_TOKENS);
        try (ModelRunner runner = new ModelRunner(model, 2)) {
            int position = 0;
            for (Map<String, ModelRunner.Input> batch : data.batches()) {
                ModelRunner.Output h = runner.run(batch, Set.of("last_hidden_state")).get("last_hidden_state");
                long[] mask = batch.get("attention_mask").longs();
                int tokens = (int) h.shape()[1];
                for (int b = 0; b < h.shape()[0]; b++) {
                    double[] pooled = new double[width];
                    int real = 0;
                    for (int t = 0; t < tokens; t++) {
                        if (mask[b * tokens + t] == 1) {
                            real++;
                            for (int c = 0; c < width; c++) {
                                pooled[c] += h.values()[(b * tokens + t) * width + c];
                            }
                        }
                    }
                    int sample = data.sampleIndex(position++);
                    for (int k = 0; k < classes; k++) {
                        double z = bias.floats()[k];
                        for (int c = 0; c < width; c++) {
                            z += head.floats()[k * width + c] * pooled[c] / real;
                        }
                        assertThat(z).as("sample %d, class %d", sample, k)
                                .isCloseTo(expected.floats()[sample * classes + k], within(2e-3));
                    }
                }
            }
        }
        return true;
    }
}
