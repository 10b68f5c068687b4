package dev.graft.pleas;

import dev.graft.linalg.MatrixProducts;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * Ridge regression toward a prior, from streamed data: rows {@code x} (with a constant 1 appended, for the bias)
 * and targets {@code y} are reduced to {@code XᵀX} and {@code XᵀY} batch by batch (products in ONNX Runtime),
 * then {@code W = (XᵀX + λ·s·I)⁻¹ (XᵀY + λ·s·W₀)} by Cholesky, with {@code s} the mean of {@code diag(XᵀX)}
 * so that {@code λ} does not depend on the data's scale. {@code λ → ∞} gives the prior {@code W₀}.
 */
final class LeastSquares {
    private final int inputs;
    private final int outputs;
    private final double[] gram;
    private final double[] cross;
    private double squaredError;
    private double squaredTarget;
    private long rows;

    /** @param inputs input width, without the constant */
    LeastSquares(int inputs, int outputs) {
        this.inputs = inputs + 1;
        this.outputs = outputs;
        this.gram = new double[this.inputs * this.inputs];
        this.cross = new double[this.inputs * outputs];
    }

    /** Adds {@code n} rows: {@code x} is {@code n × inputs}, {@code y} is {@code n × outputs}, row-major. */
    void add(float[] x, float[] y, int n, MatrixProducts products) {
        float[] xt = new float[inputs * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < inputs - 1; c++) {
                xt[c * n + r] = x[r * (inputs - 1) + c];
            }
            xt[(inputs - 1) * n + r] = 1f;
        }
        float[] yt = new float[outputs * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < outputs; c++) {
                yt[c * n + r] = y[r * outputs + c];
                squaredTarget += (double) y[r * outputs + c] * y[r * outputs + c];
            }
        }
        float[] g = products.timesTransposed(xt, inputs, n, xt, inputs);
        float[] h = products.timesTransposed(xt, inputs, n, yt, outputs);
        for (int k = 0; k < g.length; k++) {
            gram[k] += g[k];
        }
        for (int k = 0; k < h.length; k++) {
            cross[k] += h[k];
        }
        rows += n;
    }

    /**
     * Solves for {@code W} ({@code (inputs + 1) × outputs}, the last row the bias) with ridge {@code lambda}
     * toward {@code prior} (same layout).
     */
    double[] solve(double[] prior, double lambda) {
        double scale = 0;
        for (int i = 0; i < inputs; i++) {
            scale += gram[i * inputs + i];
        }
        scale = Math.max(scale / inputs, 1e-12);
        RealMatrix a = new Array2DRowRealMatrix(inputs, inputs);
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < inputs; j++) {
                a.setEntry(i, j, gram[i * inputs + j] + (i == j ? lambda * scale : 0));
            }
        }
        RealMatrix b = new Array2DRowRealMatrix(inputs, outputs);
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                b.setEntry(i, j, cross[i * outputs + j] + lambda * scale * prior[i * outputs + j]);
            }
        }
        RealMatrix w = new CholeskyDecomposition(a, 1e-10, 1e-14).getSolver().solve(b);
        double[] out = new double[inputs * outputs];
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                out[i * outputs + j] = w.getEntry(i, j);
            }
        }
        return out;
    }

    /**
     * The relative residual {@code ‖XW − Y‖² / ‖Y‖²} of {@code w}, from the reduced sums:
     * {@code ‖XW − Y‖² = tr(WᵀGW) − 2 tr(WᵀH) + ‖Y‖²}.
     */
    double relativeResidual(double[] w) {
        double quadratic = 0;
        double linear = 0;
        for (int j = 0; j < outputs; j++) {
            for (int i = 0; i < inputs; i++) {
                double gw = 0;
                for (int k = 0; k < inputs; k++) {
                    gw += gram[i * inputs + k] * w[k * outputs + j];
                }
                quadratic += w[i * outputs + j] * gw;
                linear += w[i * outputs + j] * cross[i * outputs + j];
            }
        }
        squaredError = Math.max(0, quadratic - 2 * linear + squaredTarget);
        return squaredTarget == 0 ? 0 : squaredError / squaredTarget;
    }

    long rows() {
        return rows;
    }
}
