package dev.graft.align;

import dev.graft.InvalidSettingException;

/**
 * Optimal transport between two sets of units with uniform marginals ({@code 1/a} on each of A's {@code a} units,
 * {@code 1/b} on each of B's), for a ground cost {@code C} ({@code [a, b]}, row-major). A plan {@code T}
 * ({@code [a, b]}) has row sums {@code 1/a}, column sums {@code 1/b}, total mass 1.
 * <ul>
 * <li>{@link #exact}: a plan minimising {@code Σ Tᵢⱼ·Cᵢⱼ}. With uniform marginals the transportation polytope scaled
 * by {@code L = lcm(a, b)} has integral vertices, so an optimal plan is an assignment between the units replicated
 * {@code L/a} and {@code L/b} times: solved by {@link LapSolver} (with {@code a = b}, a permutation over {@code a}:
 * OT is then permutation matching).</li>
 * <li>{@link #sinkhorn}: the entropic plan minimising {@code Σ Tᵢⱼ·Cᵢⱼ − ε·H(T)}, by Sinkhorn's iterations in the log
 * domain (stable for small {@code ε}), on the cost divided by its largest entry (so {@code ε} does not depend on the
 * cost's scale); Cuturi, "Sinkhorn Distances", NeurIPS 2013.</li>
 * </ul>
 */
public final class TransportPlan {
    /** The largest number of replicated units the exact solver assigns (an assignment of that size). */
    public static final int MAX_EXACT = 2048;

    private TransportPlan() {
    }

    /**
     * An optimal plan for cost {@code cost} ({@code [a, b]}).
     *
     * @throws InvalidSettingException if {@code lcm(a, b)} exceeds {@link #MAX_EXACT} (use {@link #sinkhorn})
     */
    public static double[] exact(double[] cost, int a, int b) {
        long l = (long) a / gcd(a, b) * b;
        if (l > MAX_EXACT) {
            throw new InvalidSettingException("exact transport between " + a + " and " + b + " units needs an "
                    + "assignment of " + l + " (at most " + MAX_EXACT + "); use the Sinkhorn solver");
        }
        int n = (int) l;
        int ra = n / a;
        int rb = n / b;
        double[] replicated = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                replicated[i * n + j] = cost[(i / ra) * b + j / rb];
            }
        }
        int[] assignment = LapSolver.minimize(replicated, n, n);
        double[] plan = new double[a * b];
        for (int i = 0; i < n; i++) {
            plan[(i / ra) * b + assignment[i] / rb] += 1.0 / n;
        }
        return plan;
    }

    /**
     * The entropic plan for {@code cost} ({@code [a, b]}) with regulariser {@code epsilon} (relative to the largest
     * cost), after at most {@code iterations} rounds or when the marginals are met within 1e-9.
     *
     * @throws InvalidSettingException if {@code epsilon} is not positive
     */
    public static double[] sinkhorn(double[] cost, int a, int b, double epsilon, int iterations) {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new InvalidSettingException("the Sinkhorn regulariser must be positive, got " + epsilon);
        }
        double max = 0;
        for (double c : cost) {
            max = Math.max(max, Math.abs(c));
        }
        double scale = max == 0 ? 1 : max;
        double logA = -Math.log(a);
        double logB = -Math.log(b);
        double[] f = new double[a];
        double[] g = new double[b];
        double[] terms = new double[Math.max(a, b)];
        for (int it = 0; it < iterations; it++) {
            for (int i = 0; i < a; i++) {
                for (int j = 0; j < b; j++) {
                    terms[j] = (g[j] - cost[i * b + j] / scale) / epsilon;
                }
                f[i] = epsilon * (logA - logSumExp(terms, b));
            }
            for (int j = 0; j < b; j++) {
                for (int i = 0; i < a; i++) {
                    terms[i] = (f[i] - cost[i * b + j] / scale) / epsilon;
                }
                g[j] = epsilon * (logB - logSumExp(terms, a));
            }
            double error = 0;
            for (int i = 0; i < a; i++) {
                double row = 0;
                for (int j = 0; j < b; j++) {
                    row += Math.exp((f[i] + g[j] - cost[i * b + j] / scale) / epsilon);
                }
                error += Math.abs(row - 1.0 / a);
            }
            if (error < 1e-9) {
                break;
            }
        }
        double[] plan = new double[a * b];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                plan[i * b + j] = Math.exp((f[i] + g[j] - cost[i * b + j] / scale) / epsilon);
            }
        }
        return plan;
    }

    /** The plan's entropy {@code −Σ Tᵢⱼ log Tᵢⱼ} (in nats; a permutation of {@code n} has {@code log n}). */
    public static double entropy(double[] plan) {
        double h = 0;
        for (double t : plan) {
            h -= t > 0 ? t * Math.log(t) : 0;
        }
        return h;
    }

    private static double logSumExp(double[] v, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < n; k++) {
            max = Math.max(max, v[k]);
        }
        double sum = 0;
        for (int k = 0; k < n; k++) {
            sum += Math.exp(v[k] - max);
        }
        return max + Math.log(sum);
    }

    private static int gcd(int x, int y) {
        return y == 0 ? x : gcd(y, x % y);
    }
}
