package dev.graft.plan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The block-wise, lane-summed diagnostics equal the formulas computed entry by entry in double: norms, cosines, the
 * sign-conflict rate and each model's outvoted share; a layer's summary weights its tensors by size.
 */
class TaskVectorStatsTest {
    private static float[][] taskVectors(int models, int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] v = new float[models][n];
        for (float[] x : v) {
            for (int j = 0; j < n; j++) {
                x[j] = r.nextInt(10) == 0 ? 0f : (float) r.nextGaussian(); // some zeros: neither side of a vote
            }
        }
        return v;
    }

    @Test
    void blockSumsEqualTheFormulas() {
        int m = 3;
        int n = 3 * TaskVectorStats.BLOCK + 123;
        float[][] deltas = taskVectors(m, n, 7);
        float[] base = new float[n];
        float[][] models = new float[m][n];
        for (int a = 0; a < m; a++) {
            for (int j = 0; j < n; j++) {
                base[j] = j % 5 - 2;
                models[a][j] = base[j] + deltas[a][j];
            }
        }
        TensorDiagnostics d = TaskVectorStats.of("w", 0, base, models);
        double[][] dot = new double[m][m];
        int conflicts = 0;
        int[] outvoted = new int[m];
        for (int j = 0; j < n; j++) {
            float[] x = new float[m];
            float total = 0;
            boolean pos = false;
            boolean neg = false;
            for (int a = 0; a < m; a++) {
                x[a] = models[a][j] - base[j]; // the task vector as the method sees it (float)
                total += x[a];
                pos |= x[a] > 0;
                neg |= x[a] < 0;
            }
            conflicts += pos && neg ? 1 : 0;
            for (int a = 0; a < m; a++) {
                outvoted[a] += (double) x[a] * total < 0 ? 1 : 0;
                for (int c = 0; c < m; c++) {
                    dot[a][c] += (double) x[a] * x[c];
                }
            }
        }
        assertThat(d.signConflict()).isEqualTo(conflicts / (double) n);
        for (int a = 0; a < m; a++) {
            assertThat(d.outvoted().get(a)).as("model %d", a).isEqualTo(outvoted[a] / (double) n);
            assertThat(d.norms().get(a)).isCloseTo(Math.sqrt(dot[a][a]), within(1e-4 * Math.sqrt(dot[a][a])));
            for (int c = 0; c < m; c++) {
                assertThat(d.cosines().get(a).get(c))
                        .isCloseTo(dot[a][c] / Math.sqrt(dot[a][a] * dot[c][c]), within(1e-5));
            }
        }
        // three models that each disagree with the other two somewhere: all are outvoted on part of the tensor
        assertThat(d.outvoted()).allMatch(o -> o > 0.1 && o < 0.5);
    }

    @Test
    void aLayerWeighsItsTensorsBySize() {
        float[][] small = taskVectors(2, 100, 1);
        float[][] large = taskVectors(2, 900, 2);
        TensorDiagnostics a = TaskVectorStats.of("a", 3, new float[100], small);
        TensorDiagnostics b = TaskVectorStats.of("b", 3, new float[900], large);
        LayerSummary layer = LayerSummary.of(List.of(a, b)).get(0);
        for (int k = 0; k < 2; k++) {
            assertThat(layer.outvoted().get(k))
                    .isCloseTo((a.outvoted().get(k) * 100 + b.outvoted().get(k) * 900) / 1000, within(1e-12));
        }
        assertThat(layer.signConflict()).isCloseTo((a.signConflict() * 100 + b.signConflict() * 900) / 1000,
                within(1e-12));
        assertThat(layer.cosines().get(0).get(1)).isEqualTo(layer.meanCosine());
        assertThat(layer.cosines().get(0).get(0)).isCloseTo(1.0, within(1e-9));
    }
}
