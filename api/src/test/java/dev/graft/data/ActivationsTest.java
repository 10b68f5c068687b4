package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.exec.ProgressListener;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivationsTest {
    @TempDir
    Path dir;

    /** relu(x·W1 + b1) of the tiny MLP, worked out from its weights. */
    private static float[] hidden(Path model, float[] x, int rows) {
        try (OnnxModel m = OnnxModel.open(model)) {
            float[] w = m.weight("W1").orElseThrow().toFloats();
            float[] b = m.weight("b1").orElseThrow().toFloats();
            float[] h = new float[rows * TinyModels.HIDDEN];
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < TinyModels.HIDDEN; j++) {
                    double s = b[j];
                    for (int i = 0; i < TinyModels.IN; i++) {
                        s += x[r * TinyModels.IN + i] * w[i * TinyModels.HIDDEN + j];
                    }
                    h[r * TinyModels.HIDDEN + j] = (float) Math.max(0, s);
                }
            }
            return h;
        }
    }

    @Test
    void everyBatchOfEveryModelReachesTheConsumerWithTheExposedValues() {
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(2), dir.resolve("b.onnx"));
        Random r = new Random(3);
        List<Map<String, ModelRunner.Input>> batches = new ArrayList<>();
        List<float[]> xs = new ArrayList<>();
        for (int k = 0; k < 3; k++) {
            float[] x = TinyModels.random(r, 5 * TinyModels.IN);
            xs.add(x);
            batches.add(Map.of("x", ModelRunner.Input.of(x, 5, TinyModels.IN)));
        }
        List<Integer> seen = new ArrayList<>();
        List<Integer> progress = new ArrayList<>();
        ProgressListener listener = (stage, done, total) -> {
            assertThat(stage).isEqualTo("testing");
            assertThat(total).isEqualTo(3);
            progress.add(done);
        };
        try (Activations runs = Activations.of(List.of(a, b), List.of(Set.of("h2"), Set.of("h2", "h0")))) {
            runs.run(Calibration.of("memory", batches), batch -> {
                seen.add(batch.index());
                float[] x = xs.get(batch.index());
                assertThat(batch.output(0, "h2").values()).containsExactly(hidden(a, x, 5), within(1e-5f));
                assertThat(batch.output(1, "h2").values()).containsExactly(hidden(b, x, 5), within(1e-5f));
                assertThat(batch.output(1, "h2").shape()).containsExactly(5, TinyModels.HIDDEN);
                assertThat(batch.outputs().get(0)).containsOnlyKeys("h2");
                assertThat(batch.outputs().get(1)).containsOnlyKeys("h2", "h0");
            }, listener, "testing");
        }
        assertThat(seen).containsExactly(0, 1, 2);
        assertThat(progress).containsExactly(1, 2, 3);
    }

    @Test
    void withNoValuesTheGraphOutputsAreHandedOver() {
        Path a = TinyModels.save(TinyModels.mlp(4), dir.resolve("a.onnx"));
        float[] x = TinyModels.random(new Random(5), 2 * TinyModels.IN);
        try (Activations runs = Activations.of(a, Set.of())) {
            List<String> names = new ArrayList<>();
            runs.run(Calibration.of("memory", List.of(Map.of("x", ModelRunner.Input.of(x, 2, TinyModels.IN)))),
                    batch -> names.addAll(batch.outputs().get(0).keySet()), ProgressListener.NONE, "testing");
            assertThat(names).containsExactly("y");
        }
    }
}
