package dev.graft.pleas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.linalg.MatrixProducts;
import java.util.SplittableRandom;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

class LeastSquaresTest {
    /**
     * Streamed in batches, the solution equals ridge regression toward the prior solved another way: least squares
     * by QR on the stacked system {@code [X 1; √(λs)·I] W = [Y; √(λs)·W₀]}; the reported residual equals
     * {@code ‖XW − Y‖² / ‖Y‖²} computed directly.
     */
    @Test
    void streamedRidgeTowardThePriorEqualsTheStackedLeastSquaresSolution() {
        int n = 300;
        int in = 7;
        int out = 3;
        double lambda = 0.05;
        SplittableRandom r = new SplittableRandom(4);
        float[] x = new float[n * in];
        float[] y = new float[n * out];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) (x[(i / out) * in + i % out] + 0.3 * r.nextGaussian() + 1);
        }
        double[] prior = new double[(in + 1) * out];
        for (int i = 0; i < prior.length; i++) {
            prior[i] = r.nextGaussian();
        }
        LeastSquares ls = new LeastSquares(in, out, true, prior);
        try (MatrixProducts products = new MatrixProducts(1)) {
            for (int from = 0; from < n; from += 100) {
                float[] xb = java.util.Arrays.copyOfRange(x, from * in, (from + 100) * in);
                float[] yb = java.util.Arrays.copyOfRange(y, from * out, (from + 100) * out);
                ls.add(xb, yb, 100, products);
            }
        }
        LeastSquares.Solution s = ls.solve(lambda);

        double scale = 0;
        for (int k = 0; k <= in; k++) {
            double d = 0;
            for (int i = 0; i < n; i++) {
                double v = k < in ? x[i * in + k] : 1;
                d += v * v;
            }
            scale += d / (in + 1);
        }
        double root = Math.sqrt(lambda * scale);
        RealMatrix a = new Array2DRowRealMatrix(n + in + 1, in + 1);
        RealMatrix b = new Array2DRowRealMatrix(n + in + 1, out);
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < in; k++) {
                a.setEntry(i, k, x[i * in + k]);
            }
            a.setEntry(i, in, 1);
            for (int j = 0; j < out; j++) {
                b.setEntry(i, j, y[i * out + j]);
            }
        }
        for (int k = 0; k <= in; k++) {
            a.setEntry(n + k, k, root);
            for (int j = 0; j < out; j++) {
                b.setEntry(n + k, j, root * prior[k * out + j]);
            }
        }
        RealMatrix want = new QRDecomposition(a).getSolver().solve(b);
        double error = 0;
        double target = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < out; j++) {
                double p = s.weights()[in * out + j];
                for (int k = 0; k < in; k++) {
                    p += x[i * in + k] * s.weights()[k * out + j];
                }
                error += (p - y[i * out + j]) * (p - y[i * out + j]);
                target += (double) y[i * out + j] * y[i * out + j];
            }
        }
        for (int k = 0; k <= in; k++) {
            for (int j = 0; j < out; j++) {
                assertThat(s.weights()[k * out + j]).isCloseTo(want.getEntry(k, j), within(1e-4));
            }
        }
        assertThat(s.relativeResidual()).isCloseTo(error / target, within(1e-5));
        assertThat(s.relativeResidual()).isGreaterThan(0.01); // the noise is real
    }

    /** A layer without a bias keeps it at 0 whatever the data say. */
    @Test
    void withoutABiasTheBiasStaysZero() {
        LeastSquares ls = new LeastSquares(1, 1, false, new double[2]);
        try (MatrixProducts products = new MatrixProducts(1)) {
            ls.add(new float[] {1, 2, 3}, new float[] {5, 6, 7}, 3, products);
        }
        assertThat(ls.solve(1e-6).weights()[1]).isZero();
        assertThatThrownBy(() -> new LeastSquares(2, 1, true, new double[3]).solve(1e-3))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ridge");
    }
}
