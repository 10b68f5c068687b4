package dev.graft.plan;

import java.util.ArrayList;
import java.util.List;

/** Computes the task-vector part of {@link TensorDiagnostics} from a base and the models' values. */
public final class TaskVectorStats {
    private TaskVectorStats() {
    }

    private static double dot(float[] x, float[] y, int len) {
        float s0 = 0;
        float s1 = 0;
        float s2 = 0;
        float s3 = 0;
        int j = 0;
        for (; j + 3 < len; j += 4) {
            s0 += x[j] * y[j];
            s1 += x[j + 1] * y[j + 1];
            s2 += x[j + 2] * y[j + 2];
            s3 += x[j + 3] * y[j + 3];
        }
        for (; j < len; j++) {
            s0 += x[j] * y[j];
        }
        return (double) s0 + s1 + s2 + s3;
    }

    /**
     * Diagnostics of one tensor, before any trimming (see {@link TensorDiagnostics#withTrimmed}); {@code base}
     * null gives norms and cosines of the models themselves.
     */
    public static TensorDiagnostics of(String tensor, Integer layer, float[] base, float[][] models) {
        int m = models.length;
        int n = models[0].length;
        double[][] dots = new double[m][m];
        long conflicts = 0;
        // cache-sized blocks: task vectors of the block stay in L1; dot products use register accumulators
        // (float within a block, double across blocks); conflicts come from sign bits, without branches
        int block = 2048;
        float[][] d = new float[m][block];
        for (int start = 0; start < n; start += block) {
            int len = Math.min(block, n - start);
            for (int a = 0; a < m; a++) {
                float[] x = models[a];
                float[] da = d[a];
                for (int j = 0; j < len; j++) {
                    da[j] = x[start + j] - (base == null ? 0f : base[start + j]);
                }
            }
            for (int a = 0; a < m; a++) {
                for (int c = a; c < m; c++) {
                    dots[a][c] += dot(d[a], d[c], len);
                }
            }
            for (int j = 0; j < len; j++) {
                int positive = 0;
                int negative = 0;
                for (int a = 0; a < m; a++) {
                    int bits = Float.floatToRawIntBits(d[a][j]);
                    int nonZero = ((bits & 0x7fffffff) + 0x7fffffff) >>> 31;
                    int sign = bits >>> 31;
                    positive |= nonZero & (sign ^ 1);
                    negative |= nonZero & sign;
                }
                conflicts += positive & negative;
            }
        }
        List<Double> norms = new ArrayList<>();
        for (int a = 0; a < m; a++) {
            norms.add(Math.sqrt(dots[a][a]));
        }
        List<List<Double>> cosines = new ArrayList<>();
        for (int a = 0; a < m; a++) {
            List<Double> row = new ArrayList<>();
            for (int c = 0; c < m; c++) {
                double dot = a <= c ? dots[a][c] : dots[c][a];
                double denom = norms.get(a) * norms.get(c);
                row.add(denom == 0 ? null : dot / denom);
            }
            cosines.add(row);
        }
        return new TensorDiagnostics(tensor, layer, n, norms, cosines,
                base == null || m < 2 ? null : (double) conflicts / n, java.util.Collections.nCopies(m, null));
    }
}
