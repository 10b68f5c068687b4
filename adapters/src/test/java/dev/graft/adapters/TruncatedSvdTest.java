package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.linalg.MatrixProducts;
import java.util.SplittableRandom;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.QRDecomposition;
import org.junit.jupiter.api.Test;

class TruncatedSvdTest {
    /** Orthonormal columns: Q of the QR of a Gaussian matrix. */
    private static DMatrixRMaj orthonormal(int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        DMatrixRMaj g = new DMatrixRMaj(rows, cols);
        for (int i = 0; i < g.data.length; i++) {
            g.data[i] = r.nextGaussian();
        }
        QRDecomposition<DMatrixRMaj> qr = DecompositionFactory_DDRM.qr(rows, cols);
        qr.decompose(g);
        return qr.getQ(null, true);
    }

    /** {@code U·diag(s)·Vᵀ} with planted orthonormal U, V: its singular values are exactly {@code s}. */
    private static float[] planted(int rows, int cols, double[] s) {
        DMatrixRMaj u = orthonormal(rows, s.length, 1);
        DMatrixRMaj v = orthonormal(cols, s.length, 2);
        float[] m = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double x = 0;
                for (int k = 0; k < s.length; k++) {
                    x += u.get(i, k) * s[k] * v.get(j, k);
                }
                m[i * cols + j] = (float) x;
            }
        }
        return m;
    }

    private static double squaredError(float[] m, TruncatedSvd.Factors f, int rows, int cols) {
        double e = 0;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double x = 0;
                for (int k = 0; k < f.rank(); k++) {
                    x += (double) f.b()[i * f.rank() + k] * f.a()[k * cols + j];
                }
                e += (x - m[i * cols + j]) * (x - m[i * cols + j]);
            }
        }
        return e;
    }

    private static void check(int rows, int cols) {
        double[] s = new double[12];
        for (int k = 0; k < s.length; k++) {
            s[k] = 50.0 / (k + 1);
        }
        float[] m = planted(rows, cols, s);
        try (MatrixProducts products = new MatrixProducts(2)) {
            TruncatedSvd.Factors full = TruncatedSvd.of(m, rows, cols, 12, products);
            for (int k = 0; k < 12; k++) {
                assertThat(full.singularValues()[k]).isCloseTo(s[k], within(1e-3 * s[0]));
            }
            assertThat(full.capturedEnergy()).isCloseTo(1.0, within(1e-5));
            assertThat(squaredError(m, full, rows, cols)).isLessThan(1e-6 * full.squaredNorm());
            TruncatedSvd.Factors four = TruncatedSvd.of(m, rows, cols, 4, products);
            double tail = 0;
            for (int k = 4; k < 12; k++) {
                tail += s[k] * s[k];
            }
            // Eckart–Young: the error is the energy of the discarded singular values, as the factors predict
            assertThat(squaredError(m, four, rows, cols)).isCloseTo(tail, within(1e-3 * tail));
            assertThat(four.squaredNorm() * (1 - four.capturedEnergy())).isCloseTo(tail, within(1e-3 * tail));
        }
    }

    @Test
    void exactSvdRecoversPlantedSingularValuesAndTheTailPredictsTheError() {
        check(90, 70);
    }

    /** A matrix of rank 1 (a sampled range with zero columns) still gets its factors, by the exact SVD. */
    @Test
    void aRankOneMatrixIsFactoredExactly() {
        float[] m = new float[300 * 200];
        m[0] = 3;
        try (MatrixProducts products = new MatrixProducts(1)) {
            TruncatedSvd.Factors f = TruncatedSvd.of(m, 300, 200, 4, products);
            assertThat(f.singularValues()[0]).isCloseTo(3, within(1e-9));
            assertThat(f.capturedEnergy()).isCloseTo(1, within(1e-9));
        }
    }

    @Test
    void randomizedSvdDoesTheSameOnALowRankRequestAndOnALargeMatrix() {
        check(400, 300);
        check(1300, TruncatedSvd.EXACT_UP_TO + 100);
    }
}
