package dev.graft.pleas;

import dev.graft.linalg.MatrixProducts;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.NonPositiveDefiniteMatrixException;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * Ridge regression toward a prior, from streamed data: rows {@code x} (with a constant appended for the bias: 1,
 * or 0 for a layer without one, which leaves the bias at its prior, 0) and targets {@code y} are reduced batch by
 * batch (products in ONNX Runtime) to {@code G = XᵀX} and {@code XᵀR}, with {@code R = Y − X·W₀} the prior's
 * residual; then {@code W = W₀ + (G + λ·s·I)⁻¹ XᵀR} by Cholesky, which is {@code (G + λ·s·I)⁻¹ (XᵀY + λ·s·W₀)}
 * with {@code s} the mean of {@code diag(G)}, so that {@code λ} does not depend on the data's scale.
 * {@code λ → ∞} gives the prior. Solving for the correction to the prior keeps float32 rounding of the products
 * in proportion to the residual, not to the targets: a prior that already fits the data exactly (a merge at 2.0×)
 * stays exact.
 */
public final class LeastSquares {
    private final int inputs;
    private final int outputs;
    private final float constant;
    private final double[] prior;
    private final float[] priorTransposed;
    private final double[] gram;
    private final double[] cross;
    private double squaredResidual;
    private double squaredTarget;

    /**
     * @param inputs input width, without the constant
     * @param bias   whether the layer has a bias to fit
     * @param prior  {@code (inputs + 1) × outputs}, the last row the bias
     */
    public LeastSquares(int inputs, int outputs, boolean bias, double[] prior) {
        this.inputs = inputs + 1;
        this.outputs = outputs;
        this.constant = bias ? 1f : 0f;
        this.prior = prior;
        this.priorTransposed = new float[outputs * inputs];
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                priorTransposed[j * inputs + i] = (float) prior[i * outputs + j];
            }
        }
        this.gram = new double[this.inputs * this.inputs];
        this.cross = new double[this.inputs * outputs];
    }

    /**
     * The bytes a system of {@code inputs} features (without the constant) and {@code outputs} targets holds from
     * its creation to its solution: its sums ({@code XᵀX}, {@code XᵀR}) and its prior, in doubles and floats.
     */
    public static long heldBytes(int inputs, int outputs) {
        long n = inputs + 1L;
        return 8 * n * n + 20 * n * outputs;
    }

    /**
     * The bytes a system takes on top of {@link #heldBytes} while it adds a batch's products or while it is
     * solved, the larger: the solve's matrix and Cholesky factor ({@code n²} doubles each) and its right-hand
     * side, correction and result.
     */
    public static long workingBytes(int inputs, int outputs) {
        long n = inputs + 1L;
        return 16 * n * n + 24 * n * outputs;
    }

    /** Adds {@code n} rows: {@code x} is {@code n × inputs}, {@code y} is {@code n × outputs}, row-major. */
    public void add(float[] x, float[] y, int n, MatrixProducts products) {
        int features = inputs - 1;
        float[] xt = new float[inputs * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < features; c++) {
                xt[c * n + r] = x[r * features + c];
            }
            xt[features * n + r] = constant;
        }
        float[] predicted = products.timesTransposed(x, n, features, priorTransposed, outputs);
        float[] rt = new float[outputs * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < outputs; c++) {
                double target = y[r * outputs + c];
                double residual = target - predicted[r * outputs + c] - constant * prior[features * outputs + c];
                rt[c * n + r] = (float) residual;
                squaredTarget += target * target;
                squaredResidual += residual * residual;
            }
        }
        float[] g = products.timesTransposed(xt, inputs, n, xt, inputs);
        float[] h = products.timesTransposed(xt, inputs, n, rt, outputs);
        for (int k = 0; k < g.length; k++) {
            gram[k] += g[k];
        }
        for (int k = 0; k < h.length; k++) {
            cross[k] += h[k];
        }
    }

    /** A solution: {@code W} ({@code (inputs + 1) × outputs}, the last row the bias) and its relative residual. */
    public record Solution(double[] weights, double relativeResidual) {
    }

    /**
     * Solves with ridge {@code lambda}. The relative residual {@code ‖XW − Y‖² / ‖Y‖²} comes from the reduced
     * sums: with {@code Δ = W − W₀}, {@code ‖XW − Y‖² = tr(ΔᵀGΔ) − 2 tr(ΔᵀXᵀR) + ‖R‖²}, and {@code GΔ = XᵀR −
     * λsΔ} at the solution, so it is {@code ‖R‖² − tr(ΔᵀXᵀR) − λs‖Δ‖²}.
     */
    public Solution solve(double lambda) {
        double scale = 0;
        for (int i = 0; i < inputs; i++) {
            scale += gram[i * inputs + i];
        }
        scale = Math.max(scale / inputs, 1e-12);
        RealMatrix a = new Array2DRowRealMatrix(inputs, inputs);
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < inputs; j++) {
                double g = 0.5 * (gram[i * inputs + j] + gram[j * inputs + i]); // float32 products: symmetrise
                a.setEntry(i, j, g + (i == j ? lambda * scale : 0));
            }
        }
        RealMatrix b = new Array2DRowRealMatrix(inputs, outputs);
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                b.setEntry(i, j, cross[i * outputs + j]);
            }
        }
        RealMatrix delta;
        try {
            delta = new CholeskyDecomposition(a, 1e-10, 1e-14).getSolver().solve(b);
        } catch (NonPositiveDefiniteMatrixException e) {
            throw new IllegalArgumentException("ridge " + lambda + " is too small for the rounding of the float32 "
                    + "Gram matrix (" + inputs + " inputs); use a larger ridge", e);
        }
        double[] out = new double[inputs * outputs];
        double linear = 0;
        double squaredDelta = 0;
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                double d = delta.getEntry(i, j);
                out[i * outputs + j] = prior[i * outputs + j] + d;
                linear += d * cross[i * outputs + j];
                squaredDelta += d * d;
            }
        }
        double error = Math.max(0, squaredResidual - linear - lambda * scale * squaredDelta);
        return new Solution(out, squaredTarget == 0 ? 0 : error / squaredTarget);
    }
}
