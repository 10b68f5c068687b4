package dev.graft.adapters;

import dev.graft.linalg.MatrixProducts;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The activation-weighted average of weights that will share one tensor: {@code S = (Σ W_l·G_l)·(Σ G_l)⁻¹} for
 * {@code [out, in]} weights {@code W_l} whose inputs have Grams {@code G_l} (damped as in {@link Whitening}), which
 * minimises {@code Σ_l ‖(W_l − S)·X_lᵀ‖²}. Each {@code (Σ G_l)⁻¹} is inverted once (by Cholesky, {@link Whitening#inverse}) and kept, as are the
 * damped Grams, so that refitting the same layers again costs only matrix products (ONNX Runtime). Grams are told
 * apart by identity: layers reading one value share one array.
 */
final class WeightedAverage {
    private final double damping;
    private final Map<double[], float[]> damped = new IdentityHashMap<>();
    private final Map<List<double[]>, float[]> inverses = new HashMap<>(); // arrays compare by identity

    WeightedAverage(double damping) {
        this.damping = damping;
    }

    /**
     * The weighted average of {@code weights} (each {@code [out, in]}), or null when {@code Σ G_l} is not positive
     * definite.
     */
    float[] of(List<float[]> weights, List<double[]> grams, int in, int out, MatrixProducts products) {
        float[] inverse = inverses.computeIfAbsent(grams, g -> inverse(g, in, products));
        if (inverse == null) {
            return null;
        }
        float[] weightedSum = new float[out * in]; // Σ W_l·G_l
        for (int l = 0; l < weights.size(); l++) {
            float[] g = damped.computeIfAbsent(grams.get(l), x -> {
                double[] d = Whitening.damped(x, in, damping);
                float[] f = new float[d.length];
                for (int k = 0; k < d.length; k++) {
                    f[k] = (float) d[k];
                }
                return f;
            });
            float[] wg = products.timesTransposed(weights.get(l), out, in, g, in); // W·Gᵀ = W·G
            for (int k = 0; k < wg.length; k++) {
                weightedSum[k] += wg[k];
            }
        }
        return products.timesTransposed(weightedSum, out, in, inverse, in); // the inverse is symmetric
    }

    private float[] inverse(List<double[]> grams, int in, MatrixProducts products) {
        double[] sum = new double[in * in];
        for (double[] g : grams) {
            double[] d = Whitening.damped(g, in, damping);
            for (int k = 0; k < d.length; k++) {
                sum[k] += d[k];
            }
        }
        try {
            return Whitening.of(sum, in, 0).inverse(products);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
