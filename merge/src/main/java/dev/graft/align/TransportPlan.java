package dev.graft.align;

import dev.graft.InvalidSettingException;

/**
 * Optimal transport between two sets of units with uniform marginals ({@code 1/a} on each of A's {@code a} units,
 * {@code 1/b} on each of B's), or given ones, for a ground cost {@code C} ({@code [a, b]}, row-major). A plan
 * {@code T} ({@code [a, b]}) has row sums {@code 1/a}, column sums {@code 1/b} (or the given marginals), total mass 1.
 * <ul>
 * <li>{@link #exact}: a plan minimising {@code Σ Tᵢⱼ·Cᵢⱼ}. With uniform marginals the transportation polytope scaled
 * by {@code L = lcm(a, b)} has integral vertices, so an optimal plan is an assignment between the units replicated
 * {@code L/a} and {@code L/b} times: solved by {@link LapSolver} (with {@code a = b}, a permutation over {@code a}:
 * OT is then permutation matching). With given marginals, or an {@code L} above {@link #MAX_EXACT}, the
 * transportation problem itself is solved as a minimum-cost flow ({@link TransportFlow}).</li>
 * <li>{@link #sinkhorn}: the entropic plan minimising {@code Σ Tᵢⱼ·Cᵢⱼ − ε·H(T)}, by Sinkhorn's iterations in the log
 * domain (stable for small {@code ε}), on the cost divided by its largest entry (so {@code ε} does not depend on the
 * cost's scale; on the kernel directly where {@code ε ≥ 1/200}, which is exact in doubles and much faster); Cuturi,
 * "Sinkhorn Distances", NeurIPS 2013.</li>
 * </ul>
 */
public final class TransportPlan {
    /**
     * The largest number of replicated units the exact solver assigns (an assignment of that size); beyond it the
     * plan is a minimum-cost flow.
     */
    public static final int MAX_EXACT = 2048;
    /**
     * Below {@code 1/ε} of this, Sinkhorn runs on the kernel directly ({@code exp(−200)} and the scalings it leads to
     * are well within a double's range); above, in the log domain.
     */
    static final double SCALED_LIMIT = 200;

    private TransportPlan() {
    }

    /** An optimal plan for cost {@code cost} ({@code [a, b]}) with uniform marginals. */
    public static double[] exact(double[] cost, int a, int b) {
        long l = (long) a / gcd(a, b) * b;
        if (l > MAX_EXACT) {
            return TransportFlow.solve(cost, uniform(a), uniform(b));
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
     * An optimal plan for {@code cost} ({@code [a, b]}) with marginals {@code alpha} (A's units' masses) and
     * {@code beta} (B's): row {@code i} sums to {@code alpha[i]}, column {@code j} to {@code beta[j]}. Where the
     * optimum is unique (costs without ties) at most {@code a + b − 1} entries are non-zero (a vertex of the
     * transportation polytope), so a unit's mass is split over several partners only where the marginals force it.
     *
     * @throws InvalidSettingException if the marginals are negative, do not sum to 1 or do not fit the cost
     */
    public static double[] exact(double[] cost, double[] alpha, double[] beta) {
        checkMarginals(cost, alpha, beta);
        return TransportFlow.solve(cost, alpha, beta);
    }

    /**
     * The entropic plan for {@code cost} ({@code [a, b]}) with regulariser {@code epsilon} (relative to the largest
     * cost), after at most {@code iterations} rounds or when the marginals are met within 1e-9.
     *
     * @throws InvalidSettingException if {@code epsilon} is not positive
     */
    public static double[] sinkhorn(double[] cost, int a, int b, double epsilon, int iterations) {
        return sinkhorn(cost, uniform(a), uniform(b), epsilon, iterations);
    }

    private static double[] uniform(int n) {
        double[] m = new double[n];
        java.util.Arrays.fill(m, 1.0 / n);
        return m;
    }

    private static void checkMarginals(double[] cost, double[] alpha, double[] beta) {
        if ((long) alpha.length * beta.length != cost.length) {
            throw new InvalidSettingException("marginals of " + alpha.length + " and " + beta.length
                    + " units do not fit a cost of " + cost.length + " entries");
        }
        for (double[] m : new double[][] {alpha, beta}) {
            double sum = 0;
            for (double x : m) {
                if (!(x > 0) || Double.isInfinite(x)) {
                    throw new InvalidSettingException("unit masses must be positive and finite, got " + x);
                }
                sum += x;
            }
            if (Math.abs(sum - 1) > 1e-9) {
                throw new InvalidSettingException("unit masses must sum to 1, got " + sum);
            }
        }
    }

    /**
     * The entropic plan with marginals {@code alpha} (A's units' masses) and {@code beta} (B's), each positive and
     * summing to 1: row {@code i} of the plan sums to {@code alpha[i]}, column {@code j} to {@code beta[j]}.
     *
     * @throws InvalidSettingException if {@code epsilon} is not positive, or the marginals are as {@link #exact}
     *     refuses them
     */
    public static double[] sinkhorn(double[] cost, double[] alpha, double[] beta, double epsilon, int iterations) {
        checkMarginals(cost, alpha, beta);
        int a = alpha.length;
        int b = beta.length;
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new InvalidSettingException("the Sinkhorn regulariser must be positive, got " + epsilon);
        }
        double max = 0;
        for (double c : cost) {
            max = Math.max(max, Math.abs(c));
        }
        double scale = max == 0 ? 1 : max;
        if (epsilon >= 1.0 / SCALED_LIMIT) {
            return scaled(cost, alpha, beta, epsilon * scale, iterations);
        }
        double[] f = new double[a];
        double[] g = new double[b];
        double[] terms = new double[Math.max(a, b)];
        for (int it = 0; it < iterations; it++) {
            for (int i = 0; i < a; i++) {
                for (int j = 0; j < b; j++) {
                    terms[j] = (g[j] - cost[i * b + j] / scale) / epsilon;
                }
                f[i] = epsilon * (Math.log(alpha[i]) - logSumExp(terms, b));
            }
            for (int j = 0; j < b; j++) {
                for (int i = 0; i < a; i++) {
                    terms[i] = (f[i] - cost[i * b + j] / scale) / epsilon;
                }
                g[j] = epsilon * (Math.log(beta[j]) - logSumExp(terms, a));
            }
            double error = 0;
            for (int i = 0; i < a; i++) {
                double row = 0;
                for (int j = 0; j < b; j++) {
                    row += Math.exp((f[i] + g[j] - cost[i * b + j] / scale) / epsilon);
                }
                error += Math.abs(row - alpha[i]);
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

    /**
     * Sinkhorn's iterations on the kernel {@code K = exp(−C/ε)} and scalings {@code u}, {@code v} (the plan is
     * {@code diag(u)·K·diag(v)}): matrix-vector products instead of a logarithm and exponential per entry, for
     * {@code ε} large enough that {@code K} and the scalings stay within a double's range (costs over {@code ε} at
     * most {@link #SCALED_LIMIT}).
     */
    private static double[] scaled(double[] cost, double[] alpha, double[] beta, double epsilon, int iterations) {
        int a = alpha.length;
        int b = beta.length;
        double[] k = new double[a * b];
        for (int x = 0; x < k.length; x++) {
            k[x] = Math.exp(-cost[x] / epsilon);
        }
        double[] u = new double[a];
        double[] v = new double[b];
        java.util.Arrays.fill(v, 1);
        double[] kv = new double[a];
        double[] ktu = new double[b];
        multiply(k, v, kv, a, b);
        for (int it = 0; it < iterations; it++) {
            for (int i = 0; i < a; i++) {
                u[i] = alpha[i] / kv[i];
            }
            java.util.Arrays.fill(ktu, 0);
            for (int i = 0; i < a; i++) {
                for (int j = 0; j < b; j++) {
                    ktu[j] += k[i * b + j] * u[i];
                }
            }
            for (int j = 0; j < b; j++) {
                v[j] = beta[j] / ktu[j];
            }
            multiply(k, v, kv, a, b);
            double error = 0;
            for (int i = 0; i < a; i++) {
                error += Math.abs(u[i] * kv[i] - alpha[i]);
            }
            if (error < 1e-9) {
                break;
            }
        }
        double[] plan = new double[a * b];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                plan[i * b + j] = u[i] * k[i * b + j] * v[j];
            }
        }
        return plan;
    }

    private static void multiply(double[] k, double[] v, double[] out, int a, int b) {
        for (int i = 0; i < a; i++) {
            double s = 0;
            for (int j = 0; j < b; j++) {
                s += k[i * b + j] * v[j];
            }
            out[i] = s;
        }
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
