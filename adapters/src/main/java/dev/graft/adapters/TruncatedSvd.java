package dev.graft.adapters;

import dev.graft.linalg.MatrixProducts;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.QRDecomposition;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

/**
 * The best rank-{@code k} approximation {@code M ≈ U·S·Vᵀ} of a matrix (Eckart–Young), as LoRA factors
 * {@code B = U·√S} ({@code rows × k}) and {@code A = √S·Vᵀ} ({@code k × cols}). A matrix whose smaller side is at
 * most {@link #EXACT_UP_TO} and less than four times {@code k + 10} gets an exact SVD (EJML); others the randomized
 * range finder of Halko, Martinsson and Tropp (<i>Finding Structure with Randomness</i>, SIAM Review 2011): {@code Y = M·Ω} with {@code k + 10}
 * Gaussian columns, two power iterations re-orthonormalised by QR, then the exact SVD of the small
 * {@code Qᵀ·M}. Large products run in ONNX Runtime (float32), QR and SVD in float64.
 */
public final class TruncatedSvd {
    /** Above this smaller side, the SVD is randomized whatever the rank. */
    public static final int EXACT_UP_TO = 1024;
    private static final int OVERSAMPLE = 10;
    private static final int POWER_ITERATIONS = 2;

    /**
     * Factors of rank {@code k}, the top {@code k} singular values (descending), and {@code ‖M‖²_F}, so that the
     * share of energy captured is {@code Σσᵢ² / ‖M‖²_F} and the squared error of the approximation is
     * {@code ‖M‖²_F − Σσᵢ²}.
     */
    public record Factors(int rank, float[] b, float[] a, double[] singularValues, double squaredNorm) {
        /** The smallest rank whose singular values capture {@code share} of {@code ‖M‖²_F} (at most {@link #rank}). */
        public int rankFor(double share) {
            double target = share * squaredNorm;
            double sum = 0;
            for (int k = 0; k < rank; k++) {
                sum += singularValues[k] * singularValues[k];
                if (sum >= target * (1 - 1e-9)) {
                    return k + 1;
                }
            }
            return rank;
        }

        /** The first {@code k} factors. */
        public Factors truncated(int k) {
            int cols = a.length / rank;
            int rows = b.length / rank;
            float[] bk = new float[rows * k];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(b, r * rank, bk, r * k, k);
            }
            return new Factors(k, bk, java.util.Arrays.copyOf(a, k * cols), java.util.Arrays.copyOf(singularValues, k),
                    squaredNorm);
        }

        /** The factors of {@code −M}: {@code B} negated, {@code A} the same (so both share it exactly). */
        public Factors negated() {
            float[] nb = new float[b.length];
            for (int i = 0; i < b.length; i++) {
                nb[i] = -b[i];
            }
            return new Factors(rank, nb, a, singularValues, squaredNorm);
        }

        /** {@code Vᵀ} ({@code rank × cols}, orthonormal rows; a zero row for a zero singular value): {@code A/√S}. */
        public float[] rightVectors() {
            int cols = a.length / Math.max(1, rank);
            float[] v = new float[a.length];
            for (int k = 0; k < rank; k++) {
                double root = Math.sqrt(singularValues[k]);
                for (int i = 0; i < cols; i++) {
                    v[k * cols + i] = root == 0 ? 0 : (float) (a[k * cols + i] / root);
                }
            }
            return v;
        }

        /** {@code Σσᵢ² / ‖M‖²_F} (1 for a zero matrix). */
        public double capturedEnergy() {
            double s = 0;
            for (double v : singularValues) {
                s += v * v;
            }
            return squaredNorm == 0 ? 1 : Math.min(1, s / squaredNorm);
        }
    }

    private TruncatedSvd() {
    }

    /** The rank-{@code k} factors of {@code m} ({@code rows × cols}, row-major); {@code k} is capped by the sizes. */
    public static Factors of(float[] m, int rows, int cols, int k, MatrixProducts products) {
        int rank = Math.min(k, Math.min(rows, cols));
        double norm = 0;
        for (float v : m) {
            norm += (double) v * v;
        }
        int side = Math.min(rows, cols);
        if (!(side <= EXACT_UP_TO && 4 * (rank + OVERSAMPLE) > side || rank + OVERSAMPLE >= side)) {
            Factors f = randomized(m, rows, cols, rank, norm, products);
            if (f != null) {
                return f;
            }
        }
        DMatrixRMaj d = new DMatrixRMaj(rows, cols);
        for (int i = 0; i < m.length; i++) {
            d.data[i] = m[i];
        }
        return factors(d, null, rank, norm);
    }

    /** The randomized factors, or null when the sampled range is rank-deficient (then the exact SVD is used). */
    private static Factors randomized(float[] m, int rows, int cols, int rank, double norm, MatrixProducts products) {
        int l = rank + OVERSAMPLE;
        float[] mt = MatrixProducts.transpose(m, rows, cols);
        SplittableRandom random = new SplittableRandom(rows * 31L + cols);
        float[] omegaT = new float[l * cols];
        for (int i = 0; i < omegaT.length; i++) {
            omegaT[i] = (float) random.nextGaussian();
        }
        float[] qt = orthonormalColumns(products.timesTransposed(m, rows, cols, omegaT, l), rows, l);
        for (int it = 0; it < POWER_ITERATIONS && qt != null; it++) {
            float[] pt = orthonormalColumns(products.timesTransposed(mt, cols, rows, qt, l), cols, l);
            qt = pt == null ? null : orthonormalColumns(products.timesTransposed(m, rows, cols, pt, l), rows, l);
        }
        if (qt == null) {
            return null;
        }
        float[] small = products.timesTransposed(qt, l, rows, mt, cols); // Qᵀ·M, l × cols
        DMatrixRMaj d = new DMatrixRMaj(l, cols);
        for (int i = 0; i < small.length; i++) {
            d.data[i] = small[i];
        }
        DMatrixRMaj q = new DMatrixRMaj(rows, l);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < l; c++) {
                q.data[r * l + c] = qt[c * rows + r];
            }
        }
        return factors(d, q, rank, norm);
    }

    /** The factors from the exact SVD of {@code d}; with {@code q}, of {@code q·d} (whose columns are orthonormal). */
    private static Factors factors(DMatrixRMaj d, DMatrixRMaj q, int rank, double norm) {
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(d.numRows, d.numCols, true,
                true, true);
        if (!svd.decompose(d)) {
            throw new IllegalStateException("the SVD did not converge");
        }
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj v = svd.getV(null, false);
        DMatrixRMaj w = svd.getW(null);
        SingularOps_DDRM.descendingOrder(u, false, w, v, false);
        if (q != null) {
            u = CommonOps_DDRM.mult(q, u, null);
        }
        int rows = u.numRows;
        int cols = v.numRows;
        float[] b = new float[rows * rank];
        float[] a = new float[rank * cols];
        double[] sigma = new double[rank];
        for (int j = 0; j < rank; j++) {
            sigma[j] = w.get(j, j);
            double root = Math.sqrt(sigma[j]);
            for (int r = 0; r < rows; r++) {
                b[r * rank + j] = (float) (u.get(r, j) * root);
            }
            for (int c = 0; c < cols; c++) {
                a[j * cols + c] = (float) (v.get(c, j) * root);
            }
        }
        return new Factors(rank, b, a, sigma, norm);
    }

    /**
     * An orthonormal basis of the columns of {@code y} ({@code rows × l}), returned transposed ({@code l × rows});
     * null if QR fails (a zero column: {@code y} has lower rank than {@code l}).
     */
    private static float[] orthonormalColumns(float[] y, int rows, int l) {
        DMatrixRMaj d = new DMatrixRMaj(rows, l);
        for (int i = 0; i < y.length; i++) {
            d.data[i] = y[i];
        }
        QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_DDRM.qr(rows, l);
        if (!qr.decompose(d)) {
            return null;
        }
        DMatrixRMaj q = qr.getQ(null, true);
        float[] out = new float[l * rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < l; c++) {
                out[c * rows + r] = (float) q.get(r, c);
            }
        }
        return out;
    }
}
