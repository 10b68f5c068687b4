package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.linalg.MatrixProducts;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The activation-weighted low rank against the error measured directly on the inputs. */
class WhiteningTest {
    private static final int ROWS = 12;
    private static final int IN = 10;
    private static final int SAMPLES = 200;

    /** Inputs whose columns have very different scales, so that weighting matters. */
    private static double[] inputs(SplittableRandom r) {
        double[] x = new double[SAMPLES * IN];
        for (int s = 0; s < SAMPLES; s++) {
            for (int i = 0; i < IN; i++) {
                x[s * IN + i] = r.nextGaussian() * Math.pow(3, i - IN / 2.0) + (i == 1 ? x[s * IN] : 0);
            }
        }
        return x;
    }

    private static double[] gram(double[] x) {
        double[] g = new double[IN * IN];
        for (int s = 0; s < SAMPLES; s++) {
            for (int i = 0; i < IN; i++) {
                for (int j = 0; j < IN; j++) {
                    g[i * IN + j] += x[s * IN + i] * x[s * IN + j];
                }
            }
        }
        return g;
    }

    /** {@code ‖(M − B·A)·Xᵀ‖²}, from the inputs themselves. */
    private static double outputError(float[] m, TruncatedSvd.Factors f, double[] x) {
        double e = 0;
        for (int s = 0; s < SAMPLES; s++) {
            for (int o = 0; o < ROWS; o++) {
                double d = 0;
                for (int i = 0; i < IN; i++) {
                    double ba = 0;
                    for (int k = 0; k < f.rank(); k++) {
                        ba += (double) f.b()[o * f.rank() + k] * f.a()[k * IN + i];
                    }
                    d += (m[o * IN + i] - ba) * x[s * IN + i];
                }
                e += d * d;
            }
        }
        return e;
    }

    @Test
    void theWhitenedFactorsMinimiseTheErrorOnTheInputsAndAreExactAtFullRank() {
        SplittableRandom r = new SplittableRandom(5);
        double[] x = inputs(r);
        float[] m = new float[ROWS * IN];
        for (int i = 0; i < m.length; i++) {
            m[i] = (float) r.nextGaussian();
        }
        Whitening w = Whitening.of(gram(x), IN, 1e-9);
        try (MatrixProducts products = new MatrixProducts(1)) {
            double total = outputError(m, new TruncatedSvd.Factors(0, new float[0], new float[0], new double[0], 0), x);
            TruncatedSvd.Factors full = w.lowRank(m, ROWS, IN, products);
            assertThat(outputError(m, full, x)).isLessThan(1e-8 * total);
            for (int k = 1; k < IN; k++) {
                TruncatedSvd.Factors weighted = w.lowRank(m, ROWS, k, products);
                TruncatedSvd.Factors plain = TruncatedSvd.of(m, ROWS, IN, k, products);
                double error = outputError(m, weighted, x);
                // the SVD of M·L: its discarded energy is the error on the inputs
                assertThat(error).as("rank %d", k).isCloseTo(weighted.squaredNorm() * (1 - weighted.capturedEnergy()),
                        within(1e-4 * total));
                assertThat(error).as("rank %d", k).isLessThanOrEqualTo(outputError(m, plain, x) * (1 + 1e-6));
                // ... and it is the best rank-k: no small change of the factors does better
                TruncatedSvd.Factors nudged = new TruncatedSvd.Factors(k, weighted.b(), weighted.a().clone(),
                        weighted.singularValues(), weighted.squaredNorm());
                nudged.a()[r.nextInt(k * IN)] += 1e-2f;
                assertThat(outputError(m, nudged, x)).isGreaterThan(error);
            }
            assertThat(outputError(m, w.lowRank(m, ROWS, 3, products), x))
                    .isLessThan(0.9 * outputError(m, TruncatedSvd.of(m, ROWS, IN, 3, products), x));
        }
    }

    @Test
    void aGramThatIsNotPositiveDefiniteNeedsDamping() {
        double[] singular = new double[IN * IN]; // all inputs zero
        assertThatThrownBy(() -> Whitening.of(singular, IN, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("larger damping");
        assertThat(Whitening.of(singular, IN, 1e-2)).isNotNull();
    }
}
