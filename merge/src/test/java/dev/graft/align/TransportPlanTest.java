package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.InvalidSettingException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.commons.math3.optim.MaxIter;
import org.apache.commons.math3.optim.linear.LinearConstraint;
import org.apache.commons.math3.optim.linear.LinearConstraintSet;
import org.apache.commons.math3.optim.linear.LinearObjectiveFunction;
import org.apache.commons.math3.optim.linear.NonNegativeConstraint;
import org.apache.commons.math3.optim.linear.Relationship;
import org.apache.commons.math3.optim.linear.SimplexSolver;
import org.apache.commons.math3.optim.nonlinear.scalar.GoalType;
import org.junit.jupiter.api.Test;

/**
 * Transport plans against independent answers: the exact plan with given marginals costs what Commons Math's simplex
 * solver finds for the same linear program; with uniform marginals the minimum-cost flow costs what the assignment
 * of replicated units costs; Sinkhorn's plans approach the exact cost as the regulariser shrinks; every plan meets
 * its marginals.
 */
class TransportPlanTest {
    @Test
    void plansHaveUniformMarginals() {
        double[] cost = random(6 * 4, 3);
        for (double[] plan : new double[][] {TransportPlan.exact(cost, 6, 4),
            TransportPlan.sinkhorn(cost, 6, 4, 0.05, 2000), // on the kernel
            TransportPlan.sinkhorn(cost, 6, 4, 0.002, 20000)}) { // in the log domain
            assertMarginals(plan, uniform(6), uniform(4));
        }
        assertThat(transported(TransportPlan.exact(cost, 6, 4), cost))
                .as("the exact plan costs no more than the entropic one")
                .isLessThanOrEqualTo(transported(TransportPlan.sinkhorn(cost, 6, 4, 0.05, 2000), cost) + 1e-12);
        double[] alpha = {0.1, 0.2, 0.3, 0.05, 0.05, 0.3};
        double[] beta = {0.4, 0.1, 0.1, 0.4};
        assertMarginals(TransportPlan.sinkhorn(cost, alpha, beta, 0.05, 5000), alpha, beta);
    }

    @Test
    void exactPlansWithGivenMarginalsCostWhatTheSimplexMethodFinds() {
        int[][] sizes = {{5, 7}, {8, 3}, {6, 6}, {1, 4}, {9, 9}};
        for (int t = 0; t < sizes.length; t++) {
            int a = sizes[t][0];
            int b = sizes[t][1];
            for (boolean ties : new boolean[] {false, true}) {
                double[] cost = random(a * b, 10 + t);
                if (ties) { // few distinct costs and equal masses: degenerate programs with many optima
                    for (int k = 0; k < cost.length; k++) {
                        cost[k] = Math.floor(cost[k] * 3);
                    }
                }
                double[] alpha = ties ? uniform(a) : masses(a, 20 + t);
                double[] beta = ties ? uniform(b) : masses(b, 30 + t);
                double[] plan = TransportPlan.exact(cost, alpha, beta);
                assertMarginals(plan, alpha, beta);
                assertThat(transported(plan, cost)).as("%d x %d, ties %s", a, b, ties)
                        .isCloseTo(simplexOptimum(cost, alpha, beta), within(1e-9));
                if (!ties) { // the optimum is unique, so a vertex of the transportation polytope
                    assertThat(java.util.Arrays.stream(plan).filter(x -> x > 0).count()).isLessThanOrEqualTo(a + b - 1);
                }
            }
        }
    }

    /**
     * Larger than the candidate arcs each unit starts with, with very uneven masses (one unit of A holds a third of the
     * mass, so it must ship far beyond its cheapest arcs): masses in multiples of {@code 1/L} make the problem an
     * assignment between units replicated as many times as they hold {@code 1/L}, which the LAP solver answers
     * independently; the flow costs what that assignment costs.
     */
    @Test
    void plansBeyondTheCandidateArcsCostWhatTheAssignmentOfReplicatedUnitsCosts() {
        int a = 90;
        int b = 70;
        int l = 630;
        double[] cost = random(a * b, 77);
        int[] rows = counts(a, l, 5, 210, 78);
        int[] columns = counts(b, l, -1, 0, 79);
        double[] alpha = new double[a];
        double[] beta = new double[b];
        int[] rowOf = new int[l];
        int[] columnOf = new int[l];
        for (int i = 0, k = 0; i < a; i++) {
            alpha[i] = rows[i] / (double) l;
            for (int r = 0; r < rows[i]; r++) {
                rowOf[k++] = i;
            }
        }
        for (int j = 0, k = 0; j < b; j++) {
            beta[j] = columns[j] / (double) l;
            for (int r = 0; r < columns[j]; r++) {
                columnOf[k++] = j;
            }
        }
        double[] replicated = new double[l * l];
        for (int x = 0; x < l; x++) {
            for (int y = 0; y < l; y++) {
                replicated[x * l + y] = cost[rowOf[x] * b + columnOf[y]];
            }
        }
        int[] assignment = LapSolver.minimize(replicated, l, l);
        double assigned = 0;
        for (int x = 0; x < l; x++) {
            assigned += replicated[x * l + assignment[x]] / l;
        }
        double[] plan = TransportPlan.exact(cost, alpha, beta);
        assertMarginals(plan, alpha, beta);
        assertThat(transported(plan, cost)).isCloseTo(assigned, within(1e-12));
    }

    /** {@code n} positive counts summing to {@code total}, entry {@code fixed} (if any) set to {@code value}. */
    private static int[] counts(int n, int total, int fixed, int value, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] c = new int[n];
        java.util.Arrays.fill(c, 1);
        int left = total - n;
        if (fixed >= 0) {
            c[fixed] = value;
            left -= value - 1;
        }
        while (left > 0) {
            int k = random.nextInt(n);
            if (k != fixed) {
                c[k]++;
                left--;
            }
        }
        return c;
    }

    @Test
    void withUniformMarginalsTheFlowCostsWhatTheAssignmentCosts() {
        int[][] sizes = {{6, 4}, {12, 8}, {30, 30}, {45, 60}};
        for (int[] s : sizes) {
            double[] cost = random(s[0] * s[1], s[0]);
            double[] flow = TransportPlan.exact(cost, uniform(s[0]), uniform(s[1]));
            assertMarginals(flow, uniform(s[0]), uniform(s[1]));
            assertThat(transported(flow, cost)).as("%d x %d", s[0], s[1])
                    .isCloseTo(transported(TransportPlan.exact(cost, s[0], s[1]), cost), within(1e-12));
        }
        // lcm(47, 53) = 2491 replicated units is past the assignment's limit: the plan is a flow
        double[] cost = random(47 * 53, 5);
        double[] plan = TransportPlan.exact(cost, 47, 53);
        assertMarginals(plan, uniform(47), uniform(53));
        assertThat(transported(plan, cost))
                .isLessThanOrEqualTo(transported(TransportPlan.sinkhorn(cost, 47, 53, 0.01, 5000), cost));
    }

    @Test
    void sinkhornApproachesTheExactCostAsTheRegulariserShrinks() {
        double[] cost = random(12 * 9, 8);
        double[] alpha = masses(12, 1);
        double[] beta = masses(9, 2);
        double exact = transported(TransportPlan.exact(cost, alpha, beta), cost);
        double previous = Double.POSITIVE_INFINITY;
        for (double epsilon : new double[] {0.1, 0.01, 0.001}) {
            double entropic = transported(TransportPlan.sinkhorn(cost, alpha, beta, epsilon, 200_000), cost);
            assertThat(entropic).as("epsilon %s", epsilon).isGreaterThanOrEqualTo(exact - 1e-12).isLessThan(previous);
            previous = entropic;
        }
        assertThat(previous).isCloseTo(exact, within(0.01 * exact));
    }

    @Test
    void marginalsThatAreNotMassesAreRefused() {
        double[] cost = random(3 * 2, 1);
        assertThatThrownBy(() -> TransportPlan.exact(cost, new double[] {0.5, 0.6, -0.1}, uniform(2)))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("positive");
        assertThatThrownBy(() -> TransportPlan.exact(cost, new double[] {0.5, 0.2, 0.2}, uniform(2)))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("sum to 1");
        assertThatThrownBy(() -> TransportPlan.sinkhorn(cost, uniform(2), uniform(2), 0.1, 10))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("do not fit");
        assertThatThrownBy(() -> TransportPlan.sinkhorn(cost, uniform(3), new double[] {Double.NaN, 1}, 0.1, 10))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("positive");
    }

    /** The optimum of the transportation program, by Commons Math's simplex method. */
    private static double simplexOptimum(double[] cost, double[] alpha, double[] beta) {
        int a = alpha.length;
        int b = beta.length;
        List<LinearConstraint> constraints = new ArrayList<>();
        for (int i = 0; i < a; i++) {
            double[] row = new double[a * b];
            java.util.Arrays.fill(row, i * b, i * b + b, 1);
            constraints.add(new LinearConstraint(row, Relationship.EQ, alpha[i]));
        }
        for (int j = 0; j < b; j++) {
            double[] column = new double[a * b];
            for (int i = 0; i < a; i++) {
                column[i * b + j] = 1;
            }
            constraints.add(new LinearConstraint(column, Relationship.EQ, beta[j]));
        }
        return new SimplexSolver().optimize(new MaxIter(10_000), new LinearObjectiveFunction(cost, 0),
                new LinearConstraintSet(constraints), GoalType.MINIMIZE, new NonNegativeConstraint(true)).getValue();
    }

    private static double[] random(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int k = 0; k < n; k++) {
            v[k] = random.nextDouble();
        }
        return v;
    }

    /** Uneven positive masses summing to 1. */
    private static double[] masses(int n, long seed) {
        double[] m = random(n, seed);
        double sum = 0;
        for (int k = 0; k < n; k++) {
            m[k] = 0.05 + m[k] * m[k];
            sum += m[k];
        }
        for (int k = 0; k < n; k++) {
            m[k] /= sum;
        }
        return m;
    }

    private static double[] uniform(int n) {
        double[] m = new double[n];
        java.util.Arrays.fill(m, 1.0 / n);
        return m;
    }

    private static double transported(double[] plan, double[] cost) {
        double s = 0;
        for (int k = 0; k < plan.length; k++) {
            s += plan[k] * cost[k];
        }
        return s;
    }

    private static void assertMarginals(double[] plan, double[] alpha, double[] beta) {
        int b = beta.length;
        for (int i = 0; i < alpha.length; i++) {
            double row = 0;
            for (int j = 0; j < b; j++) {
                row += plan[i * b + j];
            }
            assertThat(row).isCloseTo(alpha[i], within(1e-6));
        }
        for (int j = 0; j < b; j++) {
            double column = 0;
            for (int i = 0; i < alpha.length; i++) {
                column += plan[i * b + j];
            }
            assertThat(column).isCloseTo(beta[j], within(1e-6));
        }
    }
}
