package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.eval.LinearConnectivity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models trained from different starts (recipes/independent: an MLP and a CNN, seeds 1 and 2), averaged naively
 * and after weight matching, each average run in ONNX Runtime on the digits test set. Prints what the README
 * records; asserts what must hold: the aligned average keeps nearly the endpoints' accuracy, far above the naive
 * one, and its connectivity barrier is a fraction of the naive path's.
 */
class IndependentModelsTest {
    private static final Path FOLDER = Path.of("recipes/independent");

    @TempDir
    Path dir;

    private void check(String kind) {
        IndependentModels.Result r = IndependentModels.run(FOLDER, kind, dir, 11);
        LinearConnectivity.Report c = r.connectivity();
        System.out.printf(Locale.ROOT, "%s: seed1 %.3f seed2 %.3f naive %.3f aligned %.3f barrier naive %.3f aligned %.3f%n",
                kind, r.accuracyA(), r.accuracyB(), r.naiveAverage(), r.alignedAverage(), c.naive().barrier(),
                c.aligned().barrier());
        assertThat(r.alignedAverage()).isGreaterThan(r.naiveAverage() + 0.2)
                .isGreaterThan(Math.min(r.accuracyA(), r.accuracyB()) - 0.03);
        assertThat(c.aligned().barrier()).isLessThan(c.naive().barrier() / 5);
        assertThat(c.naive().points()).hasSize(11);
        // the ends of both paths are the models themselves
        assertThat(c.naive().points().get(0).value()).isEqualTo(r.accuracyA());
        assertThat(c.aligned().points().get(10).value()).isEqualTo(r.accuracyB());
    }

    @Test
    void alignedAverageOfIndependentMlpsKeepsTheirAccuracy() {
        check("mlp");
    }

    @Test
    void alignedAverageOfIndependentCnnsKeepsTheirAccuracy() throws Exception {
        check("cnn");
        IndependentModels.main(new String[] {FOLDER.toString(), "cnn", dir.toString()});
        assertThat(Files.readString(dir.resolve("cnn-connectivity.svg"))).startsWith("<svg").contains("barrier");
        assertThat(Files.readString(dir.resolve("cnn-connectivity.json"))).contains("\"aligned\"");
    }
}
