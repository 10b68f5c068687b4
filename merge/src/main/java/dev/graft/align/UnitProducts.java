package dev.graft.align;

import dev.graft.linalg.MatrixProducts;

/**
 * The dot products between two sets of units ({@code [n, m]}) and each unit's squared norm, summed over the weights
 * (or activations) that describe them, from which a ground cost is made: Euclidean {@code ‖x − y‖ =
 * √(‖x‖² + ‖y‖² − 2⟨x, y⟩)}, or cosine {@code 1 − ⟨x, y⟩ / (‖x‖·‖y‖)}, both over the units' whole descriptions.
 */
final class UnitProducts {
    final double[] dots;
    final double[] normsX;
    final double[] normsY;

    UnitProducts(int n, int m) {
        dots = new double[n * m];
        normsX = new double[n];
        normsY = new double[m];
    }

    /** Adds the rows of {@code x} ({@code [n, k]}) and {@code y} ({@code [m, k]}). */
    void add(float[] x, float[] y, int k, MatrixProducts products) {
        int n = normsX.length;
        int m = normsY.length;
        float[] d = products.timesTransposed(x, n, k, y, m);
        for (int i = 0; i < d.length; i++) {
            dots[i] += d[i];
        }
        addNorms(normsX, x, k);
        addNorms(normsY, y, k);
    }

    private static void addNorms(double[] norms, float[] rows, int k) {
        for (int i = 0; i < norms.length; i++) {
            double s = 0;
            for (int c = 0; c < k; c++) {
                double v = rows[i * k + c];
                s += v * v;
            }
            norms[i] += s;
        }
    }

    /** The cost matrix ({@code [n, m]}) under {@code distance}. */
    double[] cost(OtFusion.Distance distance) {
        int m = normsY.length;
        double[] out = new double[dots.length];
        for (int i = 0; i < normsX.length; i++) {
            for (int j = 0; j < m; j++) {
                double dot = dots[i * m + j];
                out[i * m + j] = distance == OtFusion.Distance.COSINE
                        ? (normsX[i] == 0 || normsY[j] == 0 ? 1 : 1 - dot / Math.sqrt(normsX[i] * normsY[j]))
                        : Math.sqrt(Math.max(0, normsX[i] + normsY[j] - 2 * dot));
            }
        }
        return out;
    }
}
