package dev.graft.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HeadFitTest {
    /** The head fit's gradient is its objective's (central differences), and fitting lowers the objective. */
    @Test
    void theHeadFitFollowsItsGradient() {
        SplittableRandom r = new SplittableRandom(2);
        int n = 40;
        int k = 3;
        int d = 5;
        float[][] x = new float[n][d];
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(k);
            for (int j = 0; j < d; j++) {
                x[i][j] = (float) (r.nextGaussian() + (j == y[i] ? 1.5 : 0));
            }
        }
        double[] theta = r.doubles(k * d + k, -0.5, 0.5).toArray();
        double[] anchor = r.doubles(k * d + k, -0.5, 0.5).toArray();
        double[] grad = new double[theta.length];
        HeadFit.loss(theta, anchor, x, y, k, d, 0.1, grad);
        for (int i = 0; i < theta.length; i++) {
            double[] plus = theta.clone();
            double[] minus = theta.clone();
            plus[i] += 1e-5;
            minus[i] -= 1e-5;
            double numeric = (HeadFit.loss(plus, anchor, x, y, k, d, 0.1, new double[theta.length])
                    - HeadFit.loss(minus, anchor, x, y, k, d, 0.1, new double[theta.length])) / 2e-5;
            assertThat(grad[i]).as("coordinate " + i).isCloseTo(numeric, within(1e-6));
        }
        Head start = Head.linear(new float[k * d], null, k, d);
        Head fitted = HeadFit.fit(start, x, y, 0.01, 300);
        double[] zero = new double[k * d + k];
        double[] fit = new double[k * d + k];
        for (int i = 0; i < k * d; i++) {
            fit[i] = fitted.weights()[i];
        }
        for (int c = 0; c < k; c++) {
            fit[k * d + c] = fitted.bias()[c];
        }
        assertThat(HeadFit.loss(fit, zero, x, y, k, d, 0.01, new double[fit.length]))
                .isLessThan(0.7 * HeadFit.loss(zero, zero, x, y, k, d, 0.01, new double[fit.length]));
    }
}
