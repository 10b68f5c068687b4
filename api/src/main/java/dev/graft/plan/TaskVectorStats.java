package dev.graft.plan;

import java.util.ArrayList;
import java.util.List;

/** Computes the task-vector part of {@link TensorDiagnostics} from a base and the models' values. */
public final class TaskVectorStats {
    private TaskVectorStats() {
    }

    /** Diagnostics of one tensor; {@code base} null gives norms and cosines of the models themselves. */
    public static TensorDiagnostics of(String tensor, Integer layer, float[] base, float[][] models,
                                       TensorDiagnostics.Recorder recorder) {
        int m = models.length;
        int n = models[0].length;
        double[][] dots = new double[m][m];
        long conflicts = 0;
        double[] d = new double[m];
        for (int i = 0; i < n; i++) {
            double b = base == null ? 0 : base[i];
            double max = Double.NEGATIVE_INFINITY;
            double min = Double.POSITIVE_INFINITY;
            for (int a = 0; a < m; a++) {
                d[a] = models[a][i] - b;
                max = Math.max(max, d[a]);
                min = Math.min(min, d[a]);
            }
            for (int a = 0; a < m; a++) {
                double da = d[a];
                double[] row = dots[a];
                for (int c = a; c < m; c++) {
                    row[c] += da * d[c];
                }
            }
            conflicts += (max > 0) & (min < 0) ? 1 : 0; // no branch on the data
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
                base == null || m < 2 ? null : (double) conflicts / n, recorder);
    }
}
