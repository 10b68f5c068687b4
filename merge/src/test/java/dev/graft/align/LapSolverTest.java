package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LapSolverTest {
    /** The best total over every injective assignment of the smaller side, by enumeration. */
    private static double bruteForce(double[] c, int rows, int cols, boolean maximize) {
        boolean transposed = rows > cols;
        int small = Math.min(rows, cols);
        int large = Math.max(rows, cols);
        double[] best = {maximize ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY};
        enumerate(new int[small], new boolean[large], 0, (pick) -> {
            double t = 0;
            for (int k = 0; k < small; k++) {
                t += transposed ? c[pick[k] * cols + k] : c[k * cols + pick[k]];
            }
            best[0] = maximize ? Math.max(best[0], t) : Math.min(best[0], t);
        });
        return best[0];
    }

    private static void enumerate(int[] pick, boolean[] used, int k, java.util.function.Consumer<int[]> visit) {
        if (k == pick.length) {
            visit.accept(pick);
            return;
        }
        for (int j = 0; j < used.length; j++) {
            if (!used[j]) {
                used[j] = true;
                pick[k] = j;
                enumerate(pick, used, k + 1, visit);
                used[j] = false;
            }
        }
    }

    private static void assertValid(int[] a, int rows, int cols) {
        boolean[] taken = new boolean[cols];
        int assigned = 0;
        for (int col : a) {
            if (col >= 0) {
                assertThat(taken[col]).as("column %d used twice", col).isFalse();
                taken[col] = true;
                assigned++;
            }
        }
        assertThat(assigned).isEqualTo(Math.min(rows, cols));
    }

    @Test
    void optimalAgainstBruteForceOnSmallSquareAndRectangularMatrices() {
        SplittableRandom r = new SplittableRandom(3);
        for (int trial = 0; trial < 400; trial++) {
            int rows = 1 + r.nextInt(6);
            int cols = 1 + r.nextInt(6);
            double[] c = new double[rows * cols];
            boolean integers = trial % 3 == 0; // many equal totals: ties must not break optimality
            for (int k = 0; k < c.length; k++) {
                c[k] = integers ? r.nextInt(-3, 4) : r.nextDouble() * 10 - 5;
            }
            for (boolean maximize : new boolean[] {false, true}) {
                int[] a = maximize ? LapSolver.maximize(c, rows, cols) : LapSolver.minimize(c, rows, cols);
                assertValid(a, rows, cols);
                double total = LapSolver.total(LapSolver.Costs.of(c, rows, cols), rows, cols, a);
                assertThat(total).as("trial %d %dx%d maximize=%s", trial, rows, cols, maximize)
                        .isCloseTo(bruteForce(c, rows, cols, maximize), within(1e-9));
            }
        }
    }

    /**
     * Square problems take Jonker–Volgenant's initialisation before the shortest paths; the same problem with
     * one more, prohibitively expensive column takes shortest paths only. Both must reach the same total.
     */
    @Test
    void initialisationKeepsLargerSquareProblemsOptimal() {
        SplittableRandom r = new SplittableRandom(12);
        for (int trial = 0; trial < 40; trial++) {
            int n = 20 + r.nextInt(180);
            boolean ties = trial % 2 == 0;
            double[] square = new double[n * n];
            double[] wide = new double[n * (n + 1)];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    double c = ties ? r.nextInt(0, 10) : r.nextDouble();
                    square[i * n + j] = c;
                    wide[i * (n + 1) + j] = c;
                }
                wide[i * (n + 1) + n] = 1e6;
            }
            int[] a = LapSolver.minimize(square, n, n);
            int[] b = LapSolver.minimize(wide, n, n + 1);
            assertValid(a, n, n);
            assertThat(LapSolver.total(LapSolver.Costs.of(square, n, n), n, n, a)).as("trial %d, n %d", trial, n)
                    .isCloseTo(LapSolver.total(LapSolver.Costs.of(wide, n, n + 1), n, n + 1, b), within(1e-9));
        }
    }

    @Test
    void recoversAPlantedPermutationAndAKnownOptimum() {
        int n = 300;
        SplittableRandom r = new SplittableRandom(8);
        int[] planted = new int[n];
        for (int i = 0; i < n; i++) {
            planted[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = planted[i];
            planted[i] = planted[j];
            planted[j] = t;
        }
        float[] c = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                c[i * n + j] = j == planted[i] ? 1f : r.nextFloat() * 0.5f; // the planted pairs are strictly best
            }
        }
        assertThat(LapSolver.maximize(c, n, n)).containsExactly(planted);
        // the classic 3×3 example: rows take columns 1, 0, 2 for a total of 5
        double[] classic = {4, 1, 3, 2, 0, 5, 3, 2, 2};
        assertThat(LapSolver.minimize(classic, 3, 3)).containsExactly(1, 0, 2);
    }

    @Test
    void forbiddenPairsAreAvoidedAndInfeasibleOrNaNCostsRefused() {
        double inf = Double.POSITIVE_INFINITY;
        assertThat(LapSolver.minimize(new double[] {inf, 1, 2, inf}, 2, 2)).containsExactly(1, 0);
        assertThatThrownBy(() -> LapSolver.minimize(new double[] {inf, inf, 1, 2}, 2, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("infeasible");
        assertThatThrownBy(() -> LapSolver.minimize(new double[] {1, Double.NaN, 1, 2}, 2, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[0, 1] is NaN");
        assertThatThrownBy(() -> LapSolver.minimize(new double[] {1, 2, 3}, 2, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs 4 entries, got 3");
        assertThat(LapSolver.minimize(new double[0], 0, 5)).isEmpty();
    }
}
