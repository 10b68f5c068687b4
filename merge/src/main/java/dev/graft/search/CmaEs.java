package dev.graft.search;

import dev.graft.InvalidSettingException;
import java.util.Arrays;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * The covariance matrix adaptation evolution strategy, CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial",
 * arXiv:1604.00772, with the tutorial's default parameters), in ask/tell form: {@link #ask} hands out a generation
 * of candidates, the caller evaluates them as it likes (a thread pool, Spark), and {@link #tell} takes their costs,
 * lower being better. Commons Math's {@code CMAESOptimizer} evaluates one candidate at a time, which is why this
 * exists.
 *
 * <p>Sampling {@code x = m + σ·B·D·z}, {@code z ~ N(0, I)}; recombination of the best {@code μ = λ/2} with weights
 * {@code ln((λ+1)/2) − ln i}; cumulative step-size adaptation and rank-one plus rank-μ covariance updates. Box
 * bounds are kept by reflecting each sampled point into {@code [lower, upper]} (the candidate handed out and
 * evaluated); the strategy itself moves on the unreflected points. Generation {@code g} draws from a generator
 * seeded by {@code (seed, g)}, so a run is reproducible and one resumed from {@link #state()} continues exactly as
 * it would have. The eigendecomposition of {@code C} is recomputed every generation, which suits the few hundred
 * coefficients a merge search has.
 */
public final class CmaEs {
    /**
     * What a search starts from.
     *
     * @param initial    the initial mean, inside the bounds
     * @param sigma      the initial step size σ₀ (in the coefficients' units; a third to a sixth of the range)
     * @param lower      lower bounds (same length as {@code initial}; {@code -Infinity} for none)
     * @param upper      upper bounds ({@code +Infinity} for none)
     * @param population candidates per generation λ (0 for the default {@code 4 + ⌊3 ln n⌋}; at most
     *                   {@value CmaEs#MAX_POPULATION})
     * @param seed       the seed of every generation's draws
     */
    public record Settings(double[] initial, double sigma, double[] lower, double[] upper, int population, long seed) {
        /** @throws InvalidSettingException naming the setting that is out of range */
        public Settings {
            int n = initial.length;
            if (n == 0) {
                throw new InvalidSettingException("a search needs at least one coefficient");
            }
            if (lower.length != n || upper.length != n) {
                throw new InvalidSettingException("bounds for " + lower.length + " and " + upper.length
                        + " coefficients, but " + n + " initial values");
            }
            if (!(sigma > 0) || Double.isInfinite(sigma)) {
                throw new InvalidSettingException("sigma must be positive and finite, got " + sigma);
            }
            for (int i = 0; i < n; i++) {
                if (!(lower[i] < upper[i]) || !(initial[i] >= lower[i] && initial[i] <= upper[i])) {
                    throw new InvalidSettingException("coefficient " + i + ": initial value " + initial[i]
                            + " must lie in [" + lower[i] + ", " + upper[i] + "] and the bounds must differ");
                }
            }
            if (population < 0 || population == 1 || population > MAX_POPULATION) {
                throw new InvalidSettingException("population must be 0 (default) or from 2 to " + MAX_POPULATION
                        + ", got " + population);
            }
        }

        /** Unbounded coefficients. */
        public static Settings unbounded(double[] initial, double sigma, int population, long seed) {
            double[] lo = new double[initial.length];
            double[] hi = new double[initial.length];
            Arrays.fill(lo, Double.NEGATIVE_INFINITY);
            Arrays.fill(hi, Double.POSITIVE_INFINITY);
            return new Settings(initial, sigma, lo, hi, population, seed);
        }

        /** Every coefficient starting at {@code initial} within {@code [lower, upper]}. */
        public static Settings uniform(int n, double initial, double lower, double upper, double sigma,
                                       int population, long seed) {
            double[] x = new double[n];
            double[] lo = new double[n];
            double[] hi = new double[n];
            Arrays.fill(x, initial);
            Arrays.fill(lo, lower);
            Arrays.fill(hi, upper);
            return new Settings(x, sigma, lo, hi, population, seed);
        }
    }

    /**
     * Everything the strategy carries from one generation to the next, for checkpoints: resuming from it continues
     * the run exactly.
     */
    public record State(int generation, long evaluations, double[] mean, double sigma, double[][] covariance,
                        double[] pathC, double[] pathSigma, double[] best, double bestCost) {
    }

    /** The largest population a search may have (each candidate is a full evaluation). */
    public static final int MAX_POPULATION = 100_000;

    private final Settings settings;
    private final int n;
    private final int lambda;
    private final int mu;
    private final double[] weights;
    private final double mueff;
    private final double cc;
    private final double cs;
    private final double c1;
    private final double cmu;
    private final double damps;
    private final double chiN;

    private int generation;
    private long evaluations;
    private double[] mean;
    private double sigma;
    private double[][] c;
    private double[] pc;
    private double[] ps;
    private double[][] b;
    private double[] d;
    private double[] best;
    private double bestCost = Double.POSITIVE_INFINITY;
    private double[][] asked;

    /** A new search from {@code settings}. */
    public CmaEs(Settings settings) {
        this.settings = settings;
        n = settings.initial().length;
        lambda = settings.population() > 0 ? settings.population() : 4 + (int) Math.floor(3 * Math.log(n));
        mu = lambda / 2;
        weights = new double[mu];
        double sum = 0;
        for (int i = 0; i < mu; i++) {
            weights[i] = Math.log((lambda + 1) / 2.0) - Math.log(i + 1);
            sum += weights[i];
        }
        double squares = 0;
        for (int i = 0; i < mu; i++) {
            weights[i] /= sum;
            squares += weights[i] * weights[i];
        }
        mueff = 1 / squares;
        cc = (4 + mueff / n) / (n + 4 + 2 * mueff / n);
        cs = (mueff + 2) / (n + mueff + 5);
        c1 = 2 / ((n + 1.3) * (n + 1.3) + mueff);
        cmu = Math.min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) * (n + 2) + mueff));
        damps = 1 + 2 * Math.max(0, Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs;
        chiN = Math.sqrt(n) * (1 - 1.0 / (4 * n) + 1.0 / (21.0 * n * n));
        mean = settings.initial().clone();
        sigma = settings.sigma();
        c = new double[n][n];
        for (int i = 0; i < n; i++) {
            c[i][i] = 1;
        }
        pc = new double[n];
        ps = new double[n];
        decompose();
    }

    /**
     * A search resumed from a checkpoint {@code state} of a search with the same {@code settings}.
     *
     * @throws InvalidSettingException if the state is not one of such a search: a vector or the covariance of another
     *                                 size, a value not finite, a covariance not symmetric, a negative count
     */
    public static CmaEs resume(Settings settings, State state) {
        check(state, settings.initial().length); // before anything of the settings' size is allocated
        CmaEs s = new CmaEs(settings);
        s.generation = state.generation();
        s.evaluations = state.evaluations();
        s.mean = state.mean().clone();
        s.sigma = state.sigma();
        s.c = Arrays.stream(state.covariance()).map(double[]::clone).toArray(double[][]::new);
        s.pc = state.pathC().clone();
        s.ps = state.pathSigma().clone();
        s.best = state.best() == null ? null : state.best().clone();
        s.bestCost = state.bestCost();
        s.decompose();
        return s;
    }

    private static void check(State state, int n) {
        if (state.mean() == null || state.mean().length != n) {
            throw new InvalidSettingException("the checkpoint is of a search over "
                    + (state.mean() == null ? "no" : String.valueOf(state.mean().length)) + " coefficients, not " + n);
        }
        double[][] vectors = {state.mean(), state.pathC(), state.pathSigma(), state.best()};
        String[] names = {"mean", "pathC", "pathSigma", "best"};
        for (int k = 0; k < vectors.length; k++) {
            if (vectors[k] == null && k < 3 || vectors[k] != null && vectors[k].length != n) {
                throw new InvalidSettingException("the state's " + names[k] + " must have " + n + " values");
            }
            if (vectors[k] != null && !Arrays.stream(vectors[k]).allMatch(Double::isFinite)) {
                throw new InvalidSettingException("the state's " + names[k] + " has a value that is not finite");
            }
        }
        double[][] c = state.covariance();
        if (c == null || c.length != n || Arrays.stream(c).anyMatch(row -> row == null || row.length != n)) {
            throw new InvalidSettingException("the state's covariance must be " + n + " × " + n);
        }
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double a = c[i][j];
                double b = c[j][i];
                if (!Double.isFinite(a) || !Double.isFinite(b) || Math.abs(a - b) > 1e-9 * (Math.abs(a) + Math.abs(b))) {
                    throw new InvalidSettingException("the state's covariance is not finite and symmetric at (" + i
                            + ", " + j + ")");
                }
            }
        }
        if (!(state.sigma() > 0) || Double.isInfinite(state.sigma()) || state.generation() < 0
                || state.evaluations() < 0 || Double.isNaN(state.bestCost())) {
            throw new InvalidSettingException("the state's sigma, generation, evaluations or best cost is out of "
                    + "range (" + state.sigma() + ", " + state.generation() + ", " + state.evaluations() + ", "
                    + state.bestCost() + ")");
        }
    }

    /** Candidates per generation. */
    public int population() {
        return lambda;
    }

    /** Generations told so far. */
    public int generation() {
        return generation;
    }

    /** The current step size σ. */
    public double sigma() {
        return sigma;
    }

    /** The current mean, inside the bounds. */
    public double[] mean() {
        return reflect(mean);
    }

    /** The best candidate told so far (null before the first {@link #tell}). */
    public double[] best() {
        return best == null ? null : best.clone();
    }

    /** The cost of {@link #best()}. */
    public double bestCost() {
        return bestCost;
    }

    /**
     * The next generation's {@link #population()} candidates, inside the bounds.
     *
     * @throws IllegalStateException if the last generation asked for has not been told
     */
    public double[][] ask() {
        if (asked != null) {
            throw new IllegalStateException("tell the costs of generation " + generation + " before asking again");
        }
        SplittableRandom random = new SplittableRandom(settings.seed() * 0x9E3779B97F4A7C15L + generation);
        asked = new double[lambda][n];
        double[] z = new double[n];
        for (int k = 0; k < lambda; k++) {
            for (int i = 0; i < n; i++) {
                z[i] = d[i] * random.nextGaussian();
            }
            for (int i = 0; i < n; i++) {
                double y = 0;
                for (int j = 0; j < n; j++) {
                    y += b[i][j] * z[j];
                }
                asked[k][i] = mean[i] + sigma * y;
            }
        }
        double[][] out = new double[lambda][];
        for (int k = 0; k < lambda; k++) {
            out[k] = reflect(asked[k]);
        }
        return out;
    }

    /**
     * The costs of the candidates of the last {@link #ask}, in its order: moves the mean, the paths, the covariance
     * and the step size.
     *
     * @throws IllegalStateException   if nothing was asked
     * @throws InvalidSettingException if the number of costs is not the population, or a cost is NaN
     */
    public void tell(double[] costs) {
        if (asked == null) {
            throw new IllegalStateException("ask for a generation before telling its costs");
        }
        if (costs.length != lambda) {
            throw new InvalidSettingException(costs.length + " costs told for a generation of " + lambda
                    + " candidates: tell one cost per candidate asked, in the order asked");
        }
        for (double f : costs) {
            if (Double.isNaN(f)) {
                throw new InvalidSettingException("a cost is NaN (" + Arrays.toString(costs) + "): tell a number for "
                        + "every candidate, +Infinity for one that could not be scored");
            }
        }
        Integer[] order = IntStream.range(0, lambda).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer k) -> costs[k]).thenComparingInt(k -> k));
        if (costs[order[0]] < bestCost) {
            bestCost = costs[order[0]];
            best = reflect(asked[order[0]]);
        }
        double[] old = mean;
        mean = new double[n];
        for (int i = 0; i < mu; i++) {
            double[] x = asked[order[i]];
            for (int j = 0; j < n; j++) {
                mean[j] += weights[i] * x[j];
            }
        }
        double[] step = new double[n];
        for (int j = 0; j < n; j++) {
            step[j] = (mean[j] - old[j]) / sigma;
        }
        // ps ← (1 − cs)·ps + √(cs(2 − cs)μeff)·C^(−1/2)·step, C^(−1/2) = B·D⁻¹·Bᵀ
        double[] bt = new double[n];
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) {
                s += b[j][i] * step[j];
            }
            bt[i] = s / d[i];
        }
        double norm = 0;
        double ks = Math.sqrt(cs * (2 - cs) * mueff);
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < n; j++) {
                s += b[i][j] * bt[j];
            }
            ps[i] = (1 - cs) * ps[i] + ks * s;
            norm += ps[i] * ps[i];
        }
        norm = Math.sqrt(norm);
        boolean hsig = norm / Math.sqrt(1 - Math.pow(1 - cs, 2.0 * (generation + 1))) / chiN < 1.4 + 2.0 / (n + 1);
        double kc = Math.sqrt(cc * (2 - cc) * mueff);
        for (int i = 0; i < n; i++) {
            pc[i] = (1 - cc) * pc[i] + (hsig ? kc * step[i] : 0);
        }
        double[][] y = new double[mu][n];
        for (int k = 0; k < mu; k++) {
            for (int j = 0; j < n; j++) {
                y[k][j] = (asked[order[k]][j] - old[j]) / sigma;
            }
        }
        double keep = 1 - c1 - cmu + (hsig ? 0 : c1 * cc * (2 - cc));
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double rankMu = 0;
                for (int k = 0; k < mu; k++) {
                    rankMu += weights[k] * y[k][i] * y[k][j];
                }
                double v = keep * c[i][j] + c1 * pc[i] * pc[j] + cmu * rankMu;
                c[i][j] = v;
                c[j][i] = v;
            }
        }
        sigma *= Math.exp((cs / damps) * (norm / chiN - 1));
        evaluations += lambda;
        generation++;
        asked = null;
        decompose();
    }

    /**
     * Whether the search has stopped moving: the largest standard deviation {@code σ·max(D)} is below
     * {@code tolerance}.
     */
    public boolean converged(double tolerance) {
        double max = 0;
        for (double v : d) {
            max = Math.max(max, v);
        }
        return sigma * max < tolerance;
    }

    /** The checkpoint of the search after the last {@link #tell}. */
    public State state() {
        return new State(generation, evaluations, mean.clone(), sigma,
                Arrays.stream(c).map(double[]::clone).toArray(double[][]::new), pc.clone(), ps.clone(),
                best == null ? null : best.clone(), bestCost);
    }

    /** B and D of {@code C = B·D²·Bᵀ}, eigenvalues below 1e−20 raised to it. */
    private void decompose() {
        RealMatrix m = new Array2DRowRealMatrix(c, false);
        EigenDecomposition e = new EigenDecomposition(m);
        b = new double[n][n];
        d = new double[n];
        for (int j = 0; j < n; j++) {
            d[j] = Math.sqrt(Math.max(e.getRealEigenvalue(j), 1e-20));
            double[] v = e.getEigenvector(j).toArray();
            for (int i = 0; i < n; i++) {
                b[i][j] = v[i];
            }
        }
    }

    /** {@code x} reflected into the bounds, coordinate by coordinate. */
    private double[] reflect(double[] x) {
        double[] out = x.clone();
        for (int i = 0; i < n; i++) {
            double lo = settings.lower()[i];
            double hi = settings.upper()[i];
            if (Double.isInfinite(hi - lo)) {
                out[i] = Math.min(hi, Math.max(lo, x[i]));
                continue;
            }
            double w = hi - lo;
            double r = (x[i] - lo) % (2 * w);
            if (r < 0) {
                r += 2 * w;
            }
            out[i] = lo + (r > w ? 2 * w - r : r);
        }
        return out;
    }
}
