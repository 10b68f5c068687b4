package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Grams of a tiny MLP's layer inputs, against the same sums worked out from its weights in plain Java. */
class InputGramsTest {
    private static final int IN = TinyModels.IN;
    private static final int HIDDEN = TinyModels.HIDDEN;

    @TempDir
    Path dir;

    @Test
    void eachDenseLayerGetsTheGramOfWhatItMultiplies() {
        Path model = TinyModels.save(TinyModels.mlp(3), dir.resolve("mlp.onnx"));
        Random r = new Random(9);
        List<Map<String, ModelRunner.Input>> batches = new ArrayList<>();
        List<float[]> xs = new ArrayList<>();
        for (int b = 0; b < 3; b++) {
            float[] x = TinyModels.random(r, 5 * IN);
            xs.add(x);
            batches.add(Map.of("x", ModelRunner.Input.of(x, 5, IN)));
        }
        InputGrams grams;
        float[] w1;
        float[] b1;
        try (OnnxModel m = OnnxModel.open(model)) {
            grams = InputGrams.of(model, Map.of("W1", IN, "W2", HIDDEN), Calibration.of("x", batches));
            w1 = m.weight("W1").orElseThrow().toFloats();
            b1 = m.weight("b1").orElseThrow().toFloats();
        }
        double[] g1 = new double[IN * IN];
        double[] g2 = new double[HIDDEN * HIDDEN];
        for (float[] x : xs) {
            for (int s = 0; s < 5; s++) {
                double[] h = new double[HIDDEN];
                for (int j = 0; j < HIDDEN; j++) {
                    double v = b1[j];
                    for (int i = 0; i < IN; i++) {
                        v += x[s * IN + i] * w1[i * HIDDEN + j];
                    }
                    h[j] = Math.max(0, v);
                }
                for (int i = 0; i < IN; i++) {
                    for (int j = 0; j < IN; j++) {
                        g1[i * IN + j] += x[s * IN + i] * x[s * IN + j];
                    }
                }
                for (int i = 0; i < HIDDEN; i++) {
                    for (int j = 0; j < HIDDEN; j++) {
                        g2[i * HIDDEN + j] += h[i] * h[j];
                    }
                }
            }
        }
        assertThat(grams.rows()).isEqualTo(15);
        assertThat(grams.width("W2")).isEqualTo(HIDDEN);
        for (int k = 0; k < g1.length; k++) {
            assertThat(grams.of("W1")[k]).isCloseTo(g1[k], within(1e-4 * (1 + Math.abs(g1[k]))));
        }
        for (int k = 0; k < g2.length; k++) {
            assertThat(grams.of("W2")[k]).isCloseTo(g2[k], within(1e-4 * (1 + Math.abs(g2[k]))));
        }
    }

    @Test
    void aWeightThatNoMatMulMultipliesCannotBeObserved() {
        Path model = TinyModels.save(TinyModels.mlp(3), dir.resolve("mlp.onnx"));
        Calibration data = Calibration.of("x", List.of(Map.of("x", ModelRunner.Input.of(new float[IN], 1, IN))));
        assertThatThrownBy(() -> InputGrams.of(model, Map.of("b1", HIDDEN), data))
                .isInstanceOf(GraftException.class).hasMessageContaining("b1")
                .hasMessageContaining("not the second input of a MatMul or Gemm");
    }
}
