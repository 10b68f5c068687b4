package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.eval.EvaluationReport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The digits methods × tasks table ({@link TaskBenchmark#digits}): coefficients chosen on the first half of the
 * held-out images, scores on the second half. Prints the table recorded in the README; asserts that its tasks score
 * as {@link DigitsTasks#accuracy} (an argmax over ONNX Runtime's logits, written separately) and what must hold:
 * RegMean's average is at least the simple average's, and every merge but model stock beats the pretrained model.
 */
class DigitsTaskBenchmarkTest {
    private static final Path DIGITS = Path.of("recipes/digits");

    @Test
    void regMeanIsAtLeastTheAverageAndTheTasksScoreAsTheirDefinition() {
        List<String> chosen = new ArrayList<>();
        EvaluationReport report = TaskBenchmark.run(TaskBenchmark.digits(DIGITS), chosen::add);
        System.out.print(report.table());
        chosen.forEach(System.out::println);

        DigitsTasks test = new DigitsTasks(DIGITS).split(270, 540);
        List<String> models = report.models();
        for (String model : new String[] {"base", "task_a", "task_b", "task_c"}) {
            Map<String, Double> accuracy = test.accuracy(DIGITS.resolve(model + ".onnx"));
            int row = model.equals("base") ? models.indexOf("pretrained")
                    : models.indexOf("fine-tuned on " + DigitsTasks.NAMES.get("abc".indexOf(model.charAt(5))));
            for (int t = 0; t < 3; t++) {
                assertThat(report.score(row, t)).as("%s on %s", model, DigitsTasks.NAMES.get(t))
                        .isEqualTo(accuracy.get(DigitsTasks.NAMES.get(t)));
            }
        }
        double average = report.average(row(models, "simple average"));
        assertThat(report.average(row(models, "RegMean ("))).isGreaterThanOrEqualTo(average);
        double pretrained = report.average(models.indexOf("pretrained"));
        for (int m = models.indexOf("simple average"); m < models.size(); m++) {
            if (!models.get(m).startsWith("model stock")) {
                assertThat(report.average(m)).as(models.get(m)).isGreaterThan(pretrained);
            }
        }
    }

    private static int row(List<String> models, String prefix) {
        for (int m = 0; m < models.size(); m++) {
            if (models.get(m).startsWith(prefix)) {
                return m;
            }
        }
        throw new AssertionError("no row " + prefix + " in " + models);
    }
}
