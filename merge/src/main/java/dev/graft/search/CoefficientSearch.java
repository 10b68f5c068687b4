package dev.graft.search;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import dev.graft.GraftIoException;
import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Evaluator;
import dev.graft.eval.Metric;
import dev.graft.eval.Task;
import dev.graft.exec.Execution;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.recipe.Recipes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * A search for merge coefficients: CMA-ES ({@link CmaEs}) over a {@link SearchSpace} (the coefficients of a
 * {@link CoefficientModel}, or a recipe's parameters, {@link RecipeGenome}), each candidate scored on tasks by an
 * {@link Objective}, averaged over the tasks: AdaMerging's entropy of the
 * predictions on each task's inputs, which needs no labels (Yang et al., "AdaMerging: Adaptive Model Merging for
 * Multi-Task Learning", ICLR 2024; task-wise with {@link CoefficientBlocks.Granularity#TASK}, layer-wise with
 * {@link CoefficientBlocks.Granularity#LAYER}), aTLAS's cross-entropy on a few labelled samples (Zhang et al.,
 * "Knowledge Composition using Task Vectors with Learned Anisotropic Scaling", NeurIPS 2024), or the tasks' own
 * metrics and those of any {@link Evaluator} (mergekit-evolve's scores; {@link #evaluators}). The papers learn the
 * coefficients by gradient descent; ONNX Runtime's Java build has no training, so
 * here the search is derivative-free, and needs more evaluations for more coefficients.
 *
 * <p>Starting points and bounds are the space's (coefficients: 0.3 within [0, 1], AdaMerging's, which clamps to that
 * range) unless set here for every number; σ₀ 0.1. A checkpoint file, when given, holds the strategy's state and
 * every generation so far; a search started
 * with an existing checkpoint resumes from it, with the settings it started with, and gives what the uninterrupted
 * search would have. A candidate whose score is NaN (a diverging perplexity) counts as the worst.
 */
public final class CoefficientSearch {
    /** What a candidate is scored by. */
    public enum Objective {
        /** Mean entropy of each task's predictions on its inputs (AdaMerging; no labels used). */
        ENTROPY,
        /** Cross-entropy on each task's labelled samples (aTLAS). */
        SUPERVISED,
        /** Each task's own metric (higher-is-better metrics negated). */
        SCORE;

        /** The objective named {@code name} ({@code entropy}, {@code supervised}, {@code score}). */
        public static Objective named(String name) {
            for (Objective o : values()) {
                if (o.name().toLowerCase(Locale.ROOT).equals(name)) {
                    return o;
                }
            }
            throw new InvalidSettingException("unknown objective '" + name + "' (known: entropy, supervised, score)");
        }
    }

    /**
     * One generation: its best and mean cost, the step size after it, the strategy's best candidate so far, and the
     * best cost so far; generation 0 is the starting point alone.
     */
    public record Generation(int generation, double bestCost, double meanCost, double sigma, double[] best,
                             double bestSoFarCost) {
    }

    /** A checkpoint: what was searched, the strategy's settings and state, and the generations so far. */
    public record Checkpoint(String objective, String space, CmaEs.Settings settings, CmaEs.State state,
                             List<Generation> generations) {
        /**
         * Reads a checkpoint {@link #checkpoint(Path) written by a search}, checked whole: every field present, the
         * state's vectors and covariance of the settings' size, finite and the covariance symmetric (a resumed search
         * cannot fail on it halfway), each generation's best of that size.
         *
         * @throws GraftException   naming the file if it is not such a checkpoint
         * @throws GraftIoException if it cannot be read
         */
        public static Checkpoint read(Path file) {
            Checkpoint c;
            try {
                c = new ObjectMapper().readValue(file.toFile(), Checkpoint.class);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new GraftException(file, null, "is not a search checkpoint (" + e.getOriginalMessage()
                        + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                        + e.getLocation().getColumnNr()) + "): remove it to start anew");
            } catch (IOException e) {
                throw new GraftIoException(file, "read as a search checkpoint", e);
            }
            String missing = c == null ? "everything" : c.objective() == null ? "objective" : c.space() == null
                    ? "space" : c.settings() == null ? "settings" : c.state() == null ? "state"
                    : c.generations() == null || c.generations().contains(null) ? "generations" : null;
            if (missing != null) {
                throw new GraftException(file, null, "is not a search checkpoint (no " + missing + "): remove it to "
                        + "start anew");
            }
            try {
                CmaEs.resume(c.settings(), c.state());
            } catch (InvalidSettingException e) {
                throw new GraftException(file, null, "is not a search checkpoint (" + e.getMessage() + "): remove "
                        + "it to start anew", e);
            }
            int n = c.settings().initial().length;
            for (Generation g : c.generations()) {
                if (g.best() == null || g.best().length != n) {
                    throw new GraftException(file, null, "is not a search checkpoint (generation " + g.generation()
                            + " has no best of " + n + " coefficients): remove it to start anew");
                }
            }
            return c;
        }
    }

    /**
     * Where a generation's points are scored: by default a pool of {@link #threads} threads calling {@link #cost};
     * the {@code graft-spark} module's engine scores them as Spark tasks, each executor with the same problem open
     * ({@link SearchProblem}). An engine gives each point the cost {@link #cost} gives it, so that the search is the
     * same wherever it runs.
     */
    @FunctionalInterface
    public interface Engine {
        /** The cost of each point, in order. */
        double[] costs(double[][] points);
    }

    /**
     * The search's outcome: the best candidate (the starting point if nothing beat it), its cost, and every
     * generation, from generation 0 (the start).
     */
    public record Result(double[] coefficients, double cost, List<Generation> generations) {
    }

    private final SearchSpace space;
    private final List<Task> tasks;
    private Objective objective;
    private Double initial;
    private double[] start;
    private double[] bounds;
    private double sigma = 0.1;
    private int population;
    private int generations = 30;
    private long seed;
    private int threads = 1;
    private int samples;
    private Path checkpoint;
    private Engine engine;
    private List<Evaluator> evaluators = List.of();
    private List<Task> scored; // the tasks as scored, made once for the objective and sample budget
    private Consumer<Generation> listener = g -> { };

    private CoefficientSearch(SearchSpace space, List<Task> tasks) {
        this.space = space;
        this.tasks = List.copyOf(tasks);
    }

    /**
     * A search over {@code space} scored on {@code tasks}.
     *
     * (none: only {@link #evaluators}; a search needs one or the other, checked when it scores).
     */
    public static CoefficientSearch over(SearchSpace space, List<Task> tasks) {
        return new CoefficientSearch(space, tasks);
    }

    /**
     * What candidates are scored by; by default {@link Objective#SUPERVISED} when every task has labels (on the
     * digits tasks, whose fine-tunes share a head, the entropy's most confident merge is the least accurate: see the
     * README), {@link Objective#ENTROPY} when every task is scored by entropy (unlabelled classification), else
     * {@link Objective#SCORE} (perplexity, retrieval, similarity: the tasks' own metrics).
     */
    public CoefficientSearch objective(Objective o) {
        this.objective = o;
        this.scored = null;
        return this;
    }

    /** Every number's starting value (default: the space's; aTLAS starts coefficients at 0). */
    public CoefficientSearch initial(double v) {
        this.initial = v;
        return this;
    }

    /** Where the search starts, a number for each of the space's (default: the space's start). */
    public CoefficientSearch start(double[] x) {
        if (x.length != space.size()) {
            throw new InvalidSettingException("a start of " + x.length + " numbers for a space of " + space.size());
        }
        this.start = x.clone();
        return this;
    }

    /** Every number's bounds (default: the space's). */
    public CoefficientSearch bounds(double lo, double hi) {
        this.bounds = new double[] {lo, hi};
        return this;
    }

    /** The initial step size (default 0.1). */
    public CoefficientSearch sigma(double s) {
        this.sigma = s;
        return this;
    }

    /** Candidates per generation (default 0: CMA-ES's {@code 4 + ⌊3 ln n⌋}). */
    public CoefficientSearch population(int p) {
        this.population = p;
        return this;
    }

    /** Generations to run (default 30). */
    public CoefficientSearch generations(int g) {
        if (g < 1) {
            throw new InvalidSettingException("generations must be at least 1, got " + g);
        }
        this.generations = g;
        return this;
    }

    public CoefficientSearch seed(long s) {
        this.seed = s;
        return this;
    }

    /** Candidates evaluated at once (default 1; ONNX Runtime already spreads one run over the cores). */
    public CoefficientSearch threads(int t) {
        if (t < 1) {
            throw new InvalidSettingException("threads must be at least 1, got " + t);
        }
        this.threads = t;
        return this;
    }

    /**
     * Scores candidates on each task's first {@code n} samples only (default 0: all), the same ones every time:
     * AdaMerging's batches of 16 per task, made deterministic, so that large models and many coefficients fit a
     * budget of evaluations.
     */
    public CoefficientSearch samples(int n) {
        if (n < 0) {
            throw new InvalidSettingException("samples must be 0 (all) or positive, got " + n);
        }
        this.samples = n;
        this.scored = null;
        return this;
    }

    /**
     * Also scores each candidate by {@code list}: any {@link Evaluator} (a user's own Java one), given the candidate
     * written as a model file — its recipe ({@link SearchSpace#writeRecipe}) merged into a temporary folder, a file
     * per candidate, so slower than a task, which runs the candidate in memory. Each is one more term of the mean
     * (negated when higher is better). Evaluators are scored by their own metric: the objective is
     * {@link Objective#SCORE}, and they run in this JVM (not on a remote {@link Engine}).
     */
    public CoefficientSearch evaluators(List<? extends Evaluator> list) {
        this.evaluators = List.copyOf(list);
        this.scored = null;
        return this;
    }

    /** Scores each generation on {@code e} instead of the local threads (null: the local threads). */
    public CoefficientSearch engine(Engine e) {
        this.engine = e;
        return this;
    }

    /** Keeps the search's state in {@code file} after every generation, and resumes from it if it exists. */
    public CoefficientSearch checkpoint(Path file) {
        this.checkpoint = file;
        return this;
    }

    /** Told each generation as it ends (progress on a terminal). */
    public CoefficientSearch onGeneration(Consumer<Generation> l) {
        this.listener = l;
        return this;
    }

    /** The objective searched: the one set, or the default for the tasks. */
    public Objective objective() {
        if (objective != null) {
            return objective;
        }
        if (!evaluators.isEmpty() || tasks.isEmpty()) {
            return Objective.SCORE;
        }
        if (tasks.stream().allMatch(Task::labelled)) {
            return Objective.SUPERVISED;
        }
        return tasks.stream().allMatch(t -> t.metric() == Metric.ENTROPY) ? Objective.ENTROPY : Objective.SCORE;
    }

    /** The tasks as the objective scores them, on the sample budget. */
    private synchronized List<Task> scored() {
        if (scored == null) {
            scored = scoredTasks();
        }
        return scored;
    }

    private List<Task> scoredTasks() {
        if (tasks.isEmpty() && evaluators.isEmpty()) {
            throw new InvalidSettingException("a search needs at least one task or evaluator");
        }
        if (!evaluators.isEmpty() && objective() != Objective.SCORE) {
            throw new InvalidSettingException("evaluators are scored by their own metric: the objective must be score, "
                    + "not " + name(objective()));
        }
        List<Task> budget = samples == 0 ? tasks : tasks.stream().map(t -> t.first(samples)).toList();
        return switch (objective()) {
            case ENTROPY -> budget.stream().map(t -> t.withMetric(Metric.ENTROPY)).toList();
            case SUPERVISED -> budget.stream().map(t -> t.withMetric(Metric.CROSS_ENTROPY)).toList();
            case SCORE -> budget;
        };
    }

    /** The objective at {@code c}: the mean over tasks of each task's cost (lower is better). */
    public double cost(double[] c) {
        List<Task> scored = scored();
        double total = 0;
        if (!scored.isEmpty()) {
            try (Candidate.Session s = space.session(c)) {
                for (Task t : scored) {
                    double score = t.score(s);
                    total += t.higherIsBetter() ? -score : score;
                }
            }
        }
        if (!evaluators.isEmpty()) {
            try (TemporaryFolder work = TemporaryFolder.create("graft-candidate-")) {
                Path recipe = work.resolve("candidate.yaml");
                Path model = work.resolve("candidate.onnx");
                space.writeRecipe(c, recipe);
                Recipes.read(recipe).run(model, Execution.defaults());
                for (Evaluator e : evaluators) {
                    double score = e.evaluate(model);
                    total += e.higherIsBetter() ? -score : score;
                }
            }
        }
        double mean = total / (scored.size() + evaluators.size());
        return Double.isNaN(mean) ? Double.POSITIVE_INFINITY : mean; // NaN: the worst
    }

    /**
     * Runs the search (or what is left of it, from the checkpoint).
     *
     * @throws GraftIoException if the checkpoint cannot be read or written
     * @throws InvalidSettingException if there is nothing to score, or evaluators with another objective than score
     *                                 or with a remote engine
     */
    public Result run() {
        if (engine != null && !evaluators.isEmpty()) {
            throw new InvalidSettingException("evaluators score candidates in this JVM; a remote engine cannot run "
                    + "them: search with tasks only, or without the engine");
        }
        scored(); // refuses a search with nothing to score before anything runs
        CmaEs.Settings settings = settings();
        List<Generation> log = new ArrayList<>();
        CmaEs es = new CmaEs(settings);
        ObjectMapper json = new ObjectMapper();
        if (checkpoint != null && Files.exists(checkpoint)) { // continues with the settings it started with
            Checkpoint saved = read();
            settings = saved.settings();
            es = CmaEs.resume(settings, saved.state());
            log.addAll(saved.generations());
        }
        ExecutorService pool = threads > 1 && engine == null ? Executors.newFixedThreadPool(threads) : null;
        Engine on = engine != null ? engine : xs -> scoreHere(xs, pool);
        try {
            if (log.isEmpty()) { // generation 0: the start, so that the result is never worse than it
                double start = costs(on, new double[][] {settings.initial()})[0];
                log.add(new Generation(0, start, start, sigma, settings.initial().clone(), start));
                listener.accept(log.get(0));
            }
            while (es.generation() < generations) {
                double[][] xs = es.ask();
                double[] costs = costs(on, xs);
                es.tell(costs);
                Generation g = new Generation(es.generation(), Arrays.stream(costs).min().orElseThrow(),
                        Arrays.stream(costs).average().orElseThrow(), es.sigma(), es.best(),
                        Math.min(es.bestCost(), log.get(0).bestCost()));
                log.add(g);
                if (checkpoint != null) {
                    write(json, new Checkpoint(name(objective()), space.describe(), settings, es.state(), log));
                }
                listener.accept(g);
            }
        } finally {
            if (pool != null) {
                pool.shutdownNow();
            }
        }
        Generation start = log.get(0);
        return es.bestCost() < start.bestCost() ? new Result(es.best(), es.bestCost(), List.copyOf(log))
                : new Result(start.best(), start.bestCost(), List.copyOf(log));
    }

    private CmaEs.Settings settings() {
        double[] x = space.initial();
        double[] lo = space.lower();
        double[] hi = space.upper();
        if (bounds != null) {
            Arrays.fill(lo, bounds[0]);
            Arrays.fill(hi, bounds[1]);
        }
        if (initial != null) {
            Arrays.fill(x, initial);
        }
        if (start != null) {
            x = start.clone();
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = Math.min(hi[i], Math.max(lo[i], x[i]));
        }
        return new CmaEs.Settings(x, sigma, lo, hi, population, seed);
    }

    private static double[] costs(Engine on, double[][] xs) {
        double[] costs = on.costs(xs);
        if (costs.length != xs.length) {
            throw new IllegalStateException("the engine scored " + costs.length + " of " + xs.length + " points");
        }
        return costs;
    }

    /** The local engine: {@link #cost} of each point, on {@code pool}'s threads if there is one. */
    private double[] scoreHere(double[][] xs, ExecutorService pool) {
        double[] costs = new double[xs.length];
        if (pool == null) {
            for (int k = 0; k < xs.length; k++) {
                costs[k] = cost(xs[k]);
            }
            return costs;
        }
        List<Future<Double>> futures = new ArrayList<>();
        for (double[] x : xs) {
            futures.add(pool.submit(() -> cost(x)));
        }
        try {
            for (int k = 0; k < xs.length; k++) {
                costs[k] = futures.get(k).get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while evaluating candidates", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(e.getCause());
        }
        return costs;
    }

    private Checkpoint read() {
        Checkpoint saved = Checkpoint.read(checkpoint);
        if (saved.state().mean().length != space.size() || !saved.objective().equals(name(objective()))
                || !saved.space().equals(space.describe())) {
            throw new InvalidSettingException("checkpoint " + checkpoint + " is of another search ("
                    + saved.objective() + ", " + saved.space() + ", " + saved.state().mean().length
                    + " numbers; this one: " + name(objective()) + ", " + space.describe() + ", " + space.size()
                    + "): remove it to start anew");
        }
        return saved;
    }

    private static String name(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    private void write(ObjectMapper json, Checkpoint c) {
        try {
            Path tmp = checkpoint.resolveSibling(checkpoint.getFileName() + ".tmp");
            json.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), c);
            Files.move(tmp, checkpoint, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new GraftIoException(checkpoint, "written as a search checkpoint", e);
        }
    }
}
