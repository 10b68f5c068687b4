package dev.graft.search;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.InvalidSettingException;
import dev.graft.MergeBuilder;
import dev.graft.eval.Candidate;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.merge.Linear;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Averages of subsets of the digits models, against each average merged on its own. */
class SubsetAveragesTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    @TempDir
    Path dir;

    /**
     * All 15 subsets of four models are scored, and each subset's scores equal those of its linear merge (equal
     * weights) written by {@code Graft.merge()}; the summary by size has a row per size.
     */
    @Test
    void everySubsetScoresAsItsAverageMerged() {
        List<Path> pool = List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"),
                DIGITS.resolve("task_c.onnx"), DIGITS.resolve("base.onnx"));
        List<String> names = List.of("a", "b", "c", "base");
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        SubsetAverages.Report r = SubsetAverages.run(pool, names, tasks, 100, 0, dir);
        assertThat(r.subsets()).hasSize(15);
        assertThat(r.scores().models()).startsWith("{a}", "{b}", "{c}", "{base}", "{a, b}").endsWith("{a, b, c, base}");
        for (int s = 0; s < r.subsets().size(); s++) {
            MergeBuilder b = Graft.merge().method(new Linear());
            for (int i : r.subsets().get(s)) {
                b.model(pool.get(i), 1);
            }
            Path merged = dir.resolve("subset" + s + ".onnx");
            b.writeTo(merged);
            for (int t = 0; t < tasks.size(); t++) {
                assertThat(r.scores().score(s, t)).as(r.scores().models().get(s) + " " + tasks.get(t).name())
                        .isEqualTo(tasks.get(t).score(Candidate.of(merged)));
            }
        }
        assertThat(r.bySize()).contains("| 1 | 4 |", "| 2 | 6 |", "| 3 | 4 |", "| 4 | 1 |");
    }

    /** Over the limit: every single model, the whole pool, and the same number of random subsets of each size. */
    @Test
    void largePoolsAreSampledBySize() {
        List<List<Integer>> s = SubsetAverages.choose(12, 63, 7);
        assertThat(s).hasSize(12 + 1 + 10 * 5).doesNotHaveDuplicates();
        assertThat(s.stream().filter(x -> x.size() == 1)).hasSize(12);
        assertThat(s.stream().filter(x -> x.size() == 12)).hasSize(1);
        for (int k = 2; k < 12; k++) {
            int size = k;
            assertThat(s.stream().filter(x -> x.size() == size)).hasSize(5);
        }
        assertThat(SubsetAverages.choose(12, 63, 7)).isEqualTo(s);
        assertThat(SubsetAverages.choose(4, 100, 0)).hasSize(15);
    }

    @Test
    void tooFewModelsOrSubsetsAreRefused() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        assertThatThrownBy(() -> SubsetAverages.run(List.of(DIGITS.resolve("base.onnx")), List.of("base"), tasks, 10,
                0, dir)).isInstanceOf(InvalidSettingException.class).hasMessageContaining("at least two models");
        assertThatThrownBy(() -> SubsetAverages.run(List.of(DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx")), List.of("x", "y", "z"), tasks, 3, 0, dir))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("single models");
    }
}
