package dev.graft.search;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Head;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Model Tinting on the digits tasks, each given a linear head on the MLP's ten outputs (the identity to start with,
 * so that it scores as the model does), and the head fit on its own.
 */
class TintingTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");
    static final List<Path> TUNED = List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"),
            DIGITS.resolve("task_c.onnx"));

    @TempDir
    Path dir;

    /** The digits tasks, each with an identity head over the ten logits (and its fine-tuned model, from the file). */
    private static List<Task> withIdentityHeads() {
        float[] identity = new float[100];
        for (int i = 0; i < 10; i++) {
            identity[i * 11] = 1;
        }
        List<Task> out = new ArrayList<>();
        for (Task t : TaskFile.read(DIGITS.resolve("tasks.yaml"))) {
            out.add(t.withHead(Head.linear(identity, null, 10, 10)));
        }
        return out;
    }

    /**
     * The pseudo-labels are each fine-tune's own predictions; after tinting, the cross-entropy against them is below
     * that of task arithmetic at λ = 0.3 with the original heads, and the tinted heads score better on the real labels,
     * which were never used.
     */
    @Test
    void tintingFitsThePseudoLabelsAndGainsAccuracy() {
        List<Task> tasks = withIdentityHeads();
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), TUNED,
                CoefficientBlocks.Granularity.LAYER, dir.resolve("candidates.onnx"))) {
            Tinting tinting = Tinting.over(m, tasks).rounds(2).generations(4).seed(1);
            List<int[]> labels = tinting.pseudoLabels();
            try (Candidate.Session a = Candidate.of(TUNED.get(0)).open()) {
                float[][] logits = tasks.get(0).logits(a);
                for (int i = 0; i < logits.length; i++) {
                    for (float v : logits[i]) {
                        assertThat(v).isLessThanOrEqualTo(logits[i][labels.get(0)[i]]);
                    }
                }
            }
            List<Task> pseudo = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                pseudo.add(tasks.get(t).withLabels(labels.get(t)));
            }
            double[] start = m.initial();
            double before = CoefficientSearch.over(m, pseudo).objective(CoefficientSearch.Objective.SUPERVISED)
                    .cost(start);
            Tinting.Result r = tinting.run();
            assertThat(r.cost()).isLessThan(before - 0.1);
            double untinted = 0;
            double tinted = 0;
            try (Candidate.Session s0 = m.session(start); Candidate.Session s = m.session(r.coefficients())) {
                for (int t = 0; t < 3; t++) {
                    untinted += tasks.get(t).score(s0) / 3;
                    tinted += tasks.get(t).withHead(r.heads().get(t)).score(s) / 3;
                }
            }
            assertThat(tinted).isGreaterThan(untinted);
        }
    }

    /**
     * Tinting++'s selection keeps the share of each task's samples whose pseudo-label the fine-tune is surest of (no
     * kept sample less sure than a dropped one), and tinting on them still lowers the cross-entropy against the
     * pseudo-labels of every sample; a share outside (0, 1] is refused.
     */
    @Test
    void confidentTintingFitsTheSurestSamples() {
        List<Task> tasks = withIdentityHeads();
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"), TUNED,
                CoefficientBlocks.Granularity.TASK, dir.resolve("candidates.onnx"))) {
            Tinting tinting = Tinting.over(m, tasks).rounds(1).generations(3).seed(1).confident(0.5);
            List<int[]> selected = tinting.selected();
            for (int t = 0; t < 3; t++) {
                float[][] logits;
                try (Candidate.Session teacher = Candidate.of(TUNED.get(t)).open()) {
                    logits = tasks.get(t).logits(teacher);
                }
                double[] sure = new double[logits.length];
                for (int i = 0; i < logits.length; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (float v : logits[i]) {
                        max = Math.max(max, v);
                    }
                    double sum = 0;
                    for (float v : logits[i]) {
                        sum += Math.exp(v - max);
                    }
                    sure[i] = 1 / sum;
                }
                java.util.Set<Integer> kept = new java.util.HashSet<>();
                for (int i : selected.get(t)) {
                    kept.add(i);
                }
                assertThat(kept).hasSize((logits.length + 1) / 2);
                double leastKept = kept.stream().mapToDouble(i -> sure[i]).min().orElseThrow();
                for (int i = 0; i < logits.length; i++) {
                    if (!kept.contains(i)) {
                        assertThat(sure[i]).as("task %d sample %d", t, i).isLessThanOrEqualTo(leastKept);
                    }
                }
            }
            List<int[]> labels = tinting.pseudoLabels();
            List<Task> pseudo = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                pseudo.add(tasks.get(t).withLabels(labels.get(t)));
            }
            CoefficientSearch all = CoefficientSearch.over(m, pseudo).objective(CoefficientSearch.Objective.SUPERVISED);
            Tinting.Result r = tinting.run();
            try (Candidate.Session s = m.session(r.coefficients())) {
                double tinted = 0;
                for (int t = 0; t < 3; t++) {
                    tinted += pseudo.get(t).withHead(r.heads().get(t))
                            .withMetric(dev.graft.eval.Metric.CROSS_ENTROPY).score(s) / 3;
                }
                assertThat(tinted).isLessThan(all.cost(m.initial()));
            }
            assertThatThrownBy(() -> Tinting.over(m, tasks).confident(0)).isInstanceOf(InvalidSettingException.class);
            assertThatThrownBy(() -> Tinting.over(m, tasks).confident(1.5)).isInstanceOf(InvalidSettingException.class);
        }
    }

    @Test
    void tasksWithoutALinearHeadOrAFineTuneAreRefused() {
        List<Task> plain = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        try (CoefficientModel m = CoefficientModel.build(DIGITS.resolve("base.onnx"),
                List.of(DIGITS.resolve("task_a.onnx")), CoefficientBlocks.Granularity.TASK,
                dir.resolve("c.onnx"))) {
            assertThatThrownBy(() -> Tinting.over(m, plain)).isInstanceOf(InvalidSettingException.class)
                    .hasMessageContaining("task 'A (0-4)'").hasMessageContaining("a linear head");
        }
    }
}
