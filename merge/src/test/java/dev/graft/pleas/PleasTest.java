package dev.graft.pleas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.align.Alignment;
import dev.graft.align.ModelPermuter;
import dev.graft.align.PermutationSpec;
import dev.graft.align.Permutations;
import dev.graft.data.Calibration;
import dev.graft.data.NpyArray;
import dev.graft.onnx.OnnxModel;
import dev.graft.verify.ModelRunner;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PleasTest {
    private static final Path INDEPENDENT = Path.of("../examples/recipes/independent");
    private static final Path MLP1 = INDEPENDENT.resolve("mlp_seed1.onnx");
    private static final Path MLP2 = INDEPENDENT.resolve("mlp_seed2.onnx");

    @TempDir
    Path dir;

    private static Calibration calibration() {
        return Calibration.npy(INDEPENDENT.resolve("calibration.npy"), "x", 64);
    }

    private static float[] logits(Path model, float[] x, int rows) {
        try (ModelRunner r = new ModelRunner(model, 1)) {
            return r.run(Map.of("x", ModelRunner.Input.of(x, rows, 64)), Set.of()).get("logits").values();
        }
    }

    /** Inputs the models were not calibrated on: the calibration rows reversed and mixed pairwise. */
    private static float[] freshInputs() {
        float[] c = NpyArray.read(INDEPENDENT.resolve("calibration.npy")).floats();
        float[] x = new float[c.length];
        int rows = c.length / 64;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < 64; k++) {
                x[r * 64 + k] = 0.5f * (c[(rows - 1 - r) * 64 + k] + c[((r * 7) % rows) * 64 + k]);
            }
        }
        return x;
    }

    /** Merging a model with a shuffled copy of itself at 1.0× gives the model back. */
    @Test
    void aModelAndItsShuffledCopyMergeBackIntoTheModel() {
        PermutationSpec spec = Alignment.spec(MLP1, false, ProbeOptions.defaults());
        Path shuffled = dir.resolve("shuffled.onnx");
        try (OnnxModel m = OnnxModel.open(MLP1)) {
            ModelPermuter.write(m, Permutations.random(spec, 3), shuffled, Map.of());
        }
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(MLP1, shuffled).calibration(calibration()).width(1.0).ridge(1e-6).writeTo(merged);
        assertThat(r.groups()).allSatisfy(g -> {
            assertThat(g.mergedWidth()).isEqualTo(g.width());
            assertThat(g.meanSimilarity()).isGreaterThan(0.9); // 1 but for units that never activate on the data
        });
        float[] x = freshInputs();
        float[] want = logits(MLP1, x, x.length / 64);
        float[] got = logits(merged, x, x.length / 64);
        for (int i = 0; i < want.length; i++) {
            assertThat(got[i]).isCloseTo(want[i], within(1e-3f + 1e-3f * Math.abs(want[i])));
        }
    }

    /** At 2.0× nothing is merged: the merged model computes the average of both models' outputs, on any input. */
    @Test
    void atTwiceTheWidthTheMergeIsTheAveragedOutputEnsemble() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(MLP1, MLP2).calibration(calibration()).width(2.0).writeTo(merged);
        assertThat(r.groups()).allSatisfy(g -> {
            assertThat(g.mergedWidth()).isEqualTo(2 * g.width());
            assertThat(g.mergedPairs()).isZero();
        });
        float[] x = freshInputs();
        int rows = x.length / 64;
        float[] a = logits(MLP1, x, rows);
        float[] b = logits(MLP2, x, rows);
        float[] got = logits(merged, x, rows);
        for (int i = 0; i < got.length; i++) {
            float want = 0.5f * (a[i] + b[i]);
            assertThat(got[i]).isCloseTo(want, within(1e-3f + 1e-3f * Math.abs(want)));
        }
    }

    @Test
    void widthsBetweenAreAsAskedAndRefusedOutsideTheRange() {
        Pleas.Report r = Pleas.merge(MLP1, MLP2).calibration(calibration()).width(1.5).writeTo(dir.resolve("m.onnx"));
        assertThat(r.groups()).allSatisfy(g -> {
            assertThat(g.mergedWidth()).isEqualTo(48);
            assertThat(g.mergedPairs()).isEqualTo(16);
        });
        assertThat(r.layers()).hasSize(3).allSatisfy(l -> assertThat(l.relativeResidual()).isBetween(0.0, 0.1));
        try (OnnxModel m = OnnxModel.open(dir.resolve("m.onnx"))) {
            assertThat(m.weight("2.weight").orElseThrow().shape()).containsExactly(48, 48);
        }
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).width(2.5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("between 1.0 and 2.0");
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).writeTo(dir.resolve("x.onnx")))
                .hasMessageContaining("calibration");
    }

    @Test
    void graphsWithOtherMembersInTheirGroupsAreRefusedNamingTheWeight() {
        Path cnn = INDEPENDENT.resolve("cnn_seed1.onnx");
        assertThatThrownBy(() -> Pleas.merge(cnn, INDEPENDENT.resolve("cnn_seed2.onnx")).calibration(calibration())
                .writeTo(dir.resolve("c.onnx")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("onnx::Conv_")
                .hasMessageContaining("not a linear layer");
    }
}
