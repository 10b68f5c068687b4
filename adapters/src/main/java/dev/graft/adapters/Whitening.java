package dev.graft.adapters;

import dev.graft.linalg.MatrixProducts;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.CholeskyDecomposition_F64;

/**
 * Activation-weighted low rank by whitening (the truncation-aware whitening of SVD-LLM: Wang et al.,
 * <i>SVD-LLM: Truncation-aware Singular Value Decomposition for Large Language Model Compression</i>, ICLR 2025):
 * the rank-{@code k} {@code B·A} that minimises {@code ‖(M − B·A)·Xᵀ‖_F} for an {@code [out, in]} matrix {@code M}
 * and layer inputs {@code X}, given {@code G = XᵀX}. With {@code G + δ·s·I = L·Lᵀ} (Cholesky; {@code s} the mean
 * of {@code diag G}, so {@code δ} does not depend on the data's scale, and the damping keeps {@code L} invertible
 * where inputs never vary), {@code ‖(M − B·A)·L‖_F} is minimised by the truncated SVD {@code M·L ≈ U·S·Vᵀ}:
 * {@code B = U·√S} and {@code A = √S·Vᵀ·L⁻¹}. At full rank {@code B·A = M}. The reported energies are those of
 * {@code M·L}: the share of the layer's output error removed on the data.
 */
public final class Whitening {
    private static final int COLUMNS = 16;
    private final int n;
    private final float[] lowerTransposed;
    private final float[] inverseTransposed;

    private Whitening(int n, double[] lower) {
        this.n = n;
        this.lowerTransposed = new float[n * n];
        this.inverseTransposed = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                lowerTransposed[j * n + i] = (float) lower[i * n + j];
            }
        }
        // L⁻¹ by forward substitution (L·X = I), COLUMNS columns at a time so that each row of L read from memory
        // serves them all
        double[] x = new double[n * COLUMNS]; // x[i * COLUMNS + c]: row i of column j0 + c
        double[] sum = new double[COLUMNS];
        for (int j0 = 0; j0 < n; j0 += COLUMNS) {
            int cols = Math.min(COLUMNS, n - j0);
            for (int i = j0; i < n; i++) {
                for (int c = 0; c < COLUMNS; c++) {
                    sum[c] = i == j0 + c ? 1 : 0;
                }
                for (int k = j0; k < i; k++) {
                    double l = lower[i * n + k];
                    for (int c = 0; c < COLUMNS; c++) {
                        sum[c] -= l * x[k * COLUMNS + c];
                    }
                }
                double diagonal = lower[i * n + i];
                for (int c = 0; c < COLUMNS; c++) {
                    x[i * COLUMNS + c] = sum[c] / diagonal;
                }
            }
            for (int c = 0; c < cols; c++) {
                for (int i = j0 + c; i < n; i++) {
                    inverseTransposed[(j0 + c) * n + i] = (float) x[i * COLUMNS + c];
                }
            }
        }
    }

    /** The whitening of inputs with Gram {@code gram} ({@code n × n}), damped by {@code damping} (≥ 0). */
    public static Whitening of(double[] gram, int n, double damping) {
        DMatrixRMaj g = DMatrixRMaj.wrap(n, n, damped(gram, n, damping));
        CholeskyDecomposition_F64<DMatrixRMaj> chol = DecompositionFactory_DDRM.chol(n, true);
        if (!chol.decompose(g)) {
            throw new IllegalArgumentException("damping " + damping + " is too small for this Gram matrix (" + n
                    + " inputs): it is not positive definite; use a larger damping");
        }
        DMatrixRMaj l = chol.getT(null);
        return new Whitening(n, l.data);
    }

    /** {@code G + δ·s·I}, symmetrised (float32 products leave {@code G} slightly asymmetric). */
    static double[] damped(double[] gram, int n, double damping) {
        double scale = 0;
        for (int i = 0; i < n; i++) {
            scale += gram[i * n + i];
        }
        scale = Math.max(scale / n, 1e-12);
        double[] d = new double[n * n];
        for (int r = 0; r < n; r++) {
            for (int c = 0; c < n; c++) {
                d[r * n + c] = 0.5 * (gram[r * n + c] + gram[c * n + r]) + (r == c ? damping * scale : 0);
            }
        }
        return d;
    }

    /** The rank-{@code k} factors of {@code m} ({@code rows × n}) that minimise the weighted error. */
    public TruncatedSvd.Factors lowRank(float[] m, int rows, int k, MatrixProducts products) {
        float[] whitened = products.timesTransposed(m, rows, n, lowerTransposed, n); // M·L
        TruncatedSvd.Factors f = TruncatedSvd.of(whitened, rows, n, k, products);
        float[] a = products.timesTransposed(f.a(), f.rank(), n, inverseTransposed, n); // A·L⁻¹
        return new TruncatedSvd.Factors(f.rank(), f.b(), a, f.singularValues(), f.squaredNorm());
    }

    /** {@code (G + δ·s·I)⁻¹ = L⁻ᵀ·L⁻¹} ({@code n × n}, symmetric, float32). */
    public float[] inverse(MatrixProducts products) {
        return products.timesTransposed(inverseTransposed, n, n, inverseTransposed, n);
    }
}
