package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.merge.MergeRecipe;
import dev.graft.recipe.Recipes;
import dev.graft.regmean.RegMean;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RegMean on the digits tasks, calibrated on each task's images of the first half of the test split (unlabelled;
 * the labels only say which images belong to task A or B) and scored, with every other model, on the second half.
 * Prints the table recorded in the README; asserts what must hold: RegMean's mean accuracy is at least the
 * average's (the simple baseline).
 */
class DigitsRegMeanTest {
    private static final Path DIGITS = Path.of("recipes/digits");

    @TempDir
    Path dir;

    @Test
    void regMeanCalibratedOnOneHalfIsAtLeastAsGoodAsTheAverageOnTheOther() {
        DigitsTasks all = new DigitsTasks(DIGITS);
        DigitsTasks calibration = all.split(0, 270);
        DigitsTasks test = all.split(270, 540);
        Map<String, Map<String, Double>> table = new LinkedHashMap<>();
        for (String model : new String[] {"base", "task_a", "task_b", "task_c"}) {
            table.put(model, test.accuracy(DIGITS.resolve(model + ".onnx")));
        }
        for (String recipe : new String[] {"linear", "task_arithmetic", "ties"}) {
            Path out = dir.resolve(recipe + ".onnx");
            ((MergeRecipe) Recipes.read(DIGITS.resolve(recipe + ".yaml"))).builder().writeTo(out);
            table.put(recipe, test.accuracy(out));
        }
        List<Path> tasks = List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"),
                DIGITS.resolve("task_c.onnx"));
        for (double alpha : new double[] {0.95, 0.5}) {
            for (boolean merged : new boolean[] {false, true}) {
                Path out = dir.resolve("regmean-" + alpha + merged + ".onnx");
                RegMean.merge(tasks).calibration(calibration.taskInputs()).alpha(alpha).mergedInputs(merged)
                        .writeTo(out);
                table.put(String.format(Locale.ROOT, "regmean%s α=%.2f", merged ? "++" : "", alpha),
                        test.accuracy(out));
            }
        }
        System.out.print(DigitsTasks.markdown(table));
        assertThat(DigitsTasks.mean(table.get("regmean α=0.95"))).isGreaterThanOrEqualTo(DigitsTasks.mean(table.get("linear")));
    }
}
