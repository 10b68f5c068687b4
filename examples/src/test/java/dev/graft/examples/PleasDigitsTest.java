package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PLeaS on the independent digits models, run in ONNX Runtime on the digits test set (what the README's tables
 * record, for the training-image calibration). Asserts what must hold: every width keeps nearly the parents'
 * accuracy, far above the naive average; 2.0× is the ensemble (with own heads: each parent exactly); fitting by
 * least squares at 1.0× does at least as well as the aligned average it starts from.
 */
class PleasDigitsTest {
    private static final Path FOLDER = Path.of("recipes/independent");

    @TempDir
    Path dir;

    @Test
    void sharedLabelSpaces() {
        for (String kind : new String[] {"mlp", "cnn"}) {
            PleasDigits.SharedLabels r = PleasDigits.sharedLabels(FOLDER, kind, "calibration",
                    dev.graft.pleas.Pleas.FitInputs.ORIGINALS, dir);
            System.out.println(r);
            double worst = Math.min(r.accuracyA(), r.accuracyB());
            assertThat(r.byWidth().values()).allSatisfy(a -> assertThat(a).isGreaterThan(worst - 0.02)
                    .isGreaterThan(r.naiveAverage() + 0.2));
            assertThat(r.byWidth().get(1.0)).isGreaterThanOrEqualTo(r.alignedAverage());
        }
    }

    @Test
    void ownHeadsForDifferentLabelSpaces() {
        for (String kind : new String[] {"mlp", "cnn"}) {
            PleasDigits.OwnHeads r = PleasDigits.ownHeads(FOLDER, kind, "calibration",
                    dev.graft.pleas.Pleas.FitInputs.ORIGINALS, dir);
            System.out.println(r);
            double parents = 0.5 * (r.accuracyLow() + r.accuracyHigh());
            assertThat(r.byWidth().get(2.0).ownDigits()).isCloseTo(parents, within(1e-9));
            assertThat(r.byWidth().values()).allSatisfy(h -> assertThat(h.ownDigits()).isGreaterThan(parents - 0.02));
            assertThat(r.byWidth().get(1.0).ownDigits()).isGreaterThanOrEqualTo(r.alignedAverage().ownDigits());
        }
    }
}
