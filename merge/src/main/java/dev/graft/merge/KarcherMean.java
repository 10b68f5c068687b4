package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Karcher (Riemannian) mean on the unit sphere (Karcher, <i>Riemannian center of mass and mollifier
 * smoothing</i>, 1977; mergekit's {@code karcher}): each model's flattened tensor is split into norm
 * {@code rᵢ} and direction {@code uᵢ}; starting from the normalised weighted mean of the {@code uᵢ}, the mean
 * {@code μ} moves along {@code g = Σ αᵢ·(Ωᵢ/sin Ωᵢ)·(uᵢ − cos Ωᵢ·μ)} ({@code cos Ωᵢ = ⟨μ, uᵢ⟩}) by
 * {@code μ ← cos‖g‖·μ + sin‖g‖·g/‖g‖} until {@code ‖g‖ < tol} or {@code max_iter} steps; the result is
 * {@code (Σ αᵢrᵢ)·μ}. {@code αᵢ} are the normalised weights ({@code weight}, per model, default 1: mergekit's
 * uniform mean). Parameters: {@code max_iter} (10), {@code tol} (1e-5).
 */
public final class KarcherMean implements MergeMethod {
    @Override
    public String name() {
        return "karcher";
    }

    /** The mean and the tangent, in doubles. */
    @Override
    public long scratchBytes(long elements, int models) {
        return 16 * elements;
    }

    @Override
    public boolean needsBase() {
        return false;
    }

    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("weight", 1.0, "weight of the model in the mean"),
                ParameterSpec.global("max_iter", 10.0, "most iterations"),
                ParameterSpec.global("tol", 1e-5, "stop when the step is shorter"));
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        float[][] xs = in.models();
        int m = xs.length;
        int n = out.length;
        if (m == 1) {
            System.arraycopy(xs[0], 0, out, 0, n);
            return;
        }
        double tol = in.global("tol");
        int maxIter = (int) in.global("max_iter");
        double[] alpha = new double[m];
        double alphaSum = 0;
        for (int i = 0; i < m; i++) {
            alpha[i] = in.model(i, "weight");
            alphaSum += alpha[i];
        }
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            alpha[i] /= alphaSum;
            double s = 0;
            for (float v : xs[i]) {
                s += (double) v * v;
            }
            norms[i] = Math.sqrt(s);
        }
        double validAlpha = 0;
        for (int i = 0; i < m; i++) {
            if (norms[i] > tol) {
                validAlpha += alpha[i];
            }
        }
        if (validAlpha == 0) {
            java.util.Arrays.fill(out, 0f);
            return;
        }
        double[] mean = new double[n];
        for (int i = 0; i < m; i++) {
            if (norms[i] > tol) {
                for (int j = 0; j < n; j++) {
                    mean[j] += alpha[i] / validAlpha * xs[i][j] / norms[i];
                }
            }
        }
        double meanNorm = norm(mean);
        int first = 0;
        while (norms[first] <= tol) {
            first++;
        }
        for (int j = 0; j < n; j++) {
            mean[j] = meanNorm < tol ? xs[first][j] / norms[first] : mean[j] / meanNorm;
        }
        double[] tangent = new double[n];
        for (int iter = 0; iter < maxIter; iter++) {
            java.util.Arrays.fill(tangent, 0);
            for (int i = 0; i < m; i++) {
                if (norms[i] <= tol) {
                    continue;
                }
                double dot = 0;
                for (int j = 0; j < n; j++) {
                    dot += mean[j] * xs[i][j] / norms[i];
                }
                dot = Math.max(-1, Math.min(1, dot));
                double omega = Math.acos(dot);
                if (omega < tol) {
                    continue;
                }
                double f = alpha[i] / validAlpha * omega / Math.sin(omega);
                for (int j = 0; j < n; j++) {
                    tangent[j] += f * (xs[i][j] / norms[i] - dot * mean[j]);
                }
            }
            double g = norm(tangent);
            if (g < tol) {
                break;
            }
            double c = Math.cos(g);
            double s = Math.sin(g) / g;
            for (int j = 0; j < n; j++) {
                mean[j] = c * mean[j] + s * tangent[j];
            }
            double unit = norm(mean);
            if (unit > tol) {
                for (int j = 0; j < n; j++) {
                    mean[j] /= unit;
                }
            }
        }
        double scale = 0;
        for (int i = 0; i < m; i++) {
            scale += alpha[i] * norms[i];
        }
        for (int j = 0; j < n; j++) {
            out[j] = (float) (scale * mean[j]);
        }
    }

    private static double norm(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x * x;
        }
        return Math.sqrt(s);
    }
}
