package dev.graft.adapters;

import dev.graft.linalg.MatrixProducts;
import java.util.ArrayList;
import java.util.List;

/**
 * One LoRA factor shared by several layers (the ASLoRA idea: Hu et al., <i>ASLoRA: Adaptive Sharing Low-Rank
 * Adaptation Across Layers</i>, 2024): given updates {@code ΔW_l} ({@code out × in}, one per layer), the
 * {@code A} ({@code r × in}, orthonormal rows) shared by all and the {@code B_l} ({@code out × r}) that minimise
 * {@code Σ_l ‖ΔW_l − B_l·A‖²}. Closed form: {@code A} is the top {@code r} right singular vectors of the stacked
 * updates {@code [ΔW_1; …; ΔW_L]} and {@code B_l = ΔW_l·Aᵀ}; the total squared error is the energy of the
 * discarded singular values.
 */
public final class SharedFactor {
    /** The fit: shared {@code a}, each layer's {@code b}, and each layer's relative squared error. */
    public record Fit(int rank, float[] a, List<float[]> b, double[] relativeError) {
    }

    private SharedFactor() {
    }

    /** Fits a rank-{@code r} shared factor to {@code updates} (each {@code out × in}, row-major). */
    public static Fit fit(List<float[]> updates, int out, int in, int r, MatrixProducts products) {
        int layers = updates.size();
        float[] stacked = new float[layers * out * in];
        for (int l = 0; l < layers; l++) {
            System.arraycopy(updates.get(l), 0, stacked, l * out * in, out * in);
        }
        TruncatedSvd.Factors f = TruncatedSvd.of(stacked, layers * out, in, r, products);
        int rank = f.rank();
        float[] a = f.rightVectors();
        List<float[]> bs = new ArrayList<>();
        double[] error = new double[layers];
        for (int l = 0; l < layers; l++) {
            float[] d = updates.get(l);
            float[] b = new float[out * rank];
            double err = 0;
            double norm = 0;
            for (int o = 0; o < out; o++) {
                for (int k = 0; k < rank; k++) {
                    double s = 0;
                    for (int i = 0; i < in; i++) {
                        s += (double) d[o * in + i] * a[k * in + i];
                    }
                    b[o * rank + k] = (float) s;
                }
                for (int i = 0; i < in; i++) {
                    double x = 0;
                    for (int k = 0; k < rank; k++) {
                        x += (double) b[o * rank + k] * a[k * in + i];
                    }
                    err += (x - d[o * in + i]) * (x - d[o * in + i]);
                    norm += (double) d[o * in + i] * d[o * in + i];
                }
            }
            bs.add(b);
            error[l] = norm == 0 ? 0 : err / norm;
        }
        return new Fit(rank, a, bs, error);
    }
}
