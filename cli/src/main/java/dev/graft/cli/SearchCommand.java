package dev.graft.cli;

import dev.graft.data.NpyArray;
import dev.graft.eval.Head;
import dev.graft.eval.LinePlot;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.exec.Execution;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.recipe.Recipes;
import dev.graft.search.CoefficientBlocks;
import dev.graft.search.CoefficientModel;
import dev.graft.search.CoefficientSearch;
import dev.graft.search.Tinting;
import dev.graft.search.SearchProblem;
import dev.graft.search.SearchSpace;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft search RECIPE --tasks tasks.yaml -o OUT}: learns merge coefficients ({@link CoefficientSearch}) for
 * the recipe's base and models, and writes the best candidate as a recipe, the model it merges, the search's log
 * (a checkpoint: the same command resumes it) and a convergence plot.
 */
@Command(name = "search", mixinStandardHelpOptions = true,
        description = "Learn task-arithmetic coefficients θ₀ + Σ c·(θ_t − θ₀) for the base_model and models of a "
                + "merge recipe by CMA-ES (or, with --genome, the recipe's own weights, densities, lambda or t per "
                + "layer group, for any method), scoring each candidate on the tasks of a task file: AdaMerging's "
                + "entropy of the predictions (no labels), the cross-entropy of labelled samples (aTLAS), or the "
                + "tasks' own metrics. Writes OUT/recipe.yaml (graft merge re-runs it), OUT/model.onnx, "
                + "OUT/search.json (every generation; running the same command again resumes from it) and "
                + "OUT/convergence.svg.")
final class SearchCommand implements Callable<Integer> {
    /** Who scores the candidates of a problem: null, the local threads (--threads); graft-spark's Spark tasks. */
    private final Function<SearchProblem, CoefficientSearch.Engine> engine;

    @Spec
    CommandSpec spec;

    SearchCommand() {
        this(problem -> null);
    }

    SearchCommand(Function<SearchProblem, CoefficientSearch.Engine> engine) {
        this.engine = engine;
    }

    @Parameters(paramLabel = "RECIPE", description = "a merge recipe: its base_model and models are searched "
            + "(its method and parameters are used only with --genome)")
    Path recipe;

    @Option(names = "--genome", split = ",", paramLabel = "PARAM",
            description = "search the recipe's own parameters instead (weight, density, lambda, t), one per model "
                    + "(or global) and layer group; a session per candidate")
    List<String> genome;

    @Option(names = "--groups", defaultValue = "1", description = "layer groups of a --genome search or of "
            + "--granularity group (default 1)")
    int groups;

    @Option(names = "--tasks", required = true, paramLabel = "FILE", description = "the task file (tasks.yaml)")
    Path tasks;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "the output folder")
    Path output;

    @Option(names = "--objective", paramLabel = "NAME", description = "entropy, supervised, score or tinting "
            + "(coefficients and each task's head fitted to its fine-tune's predictions; tasks need head: and "
            + "fine_tuned:) (default: supervised when every task has labels, entropy when every task is scored by "
            + "entropy, else score)")
    String objective;

    @Option(names = "--granularity", paramLabel = "NAME", defaultValue = "task",
            description = "a coefficient per task (default), per task and layer, per task and tensor, or per task "
                    + "and group of layers (--groups): task, layer, tensor, group")
    String granularity;

    @Option(names = "--generations", defaultValue = "30", description = "CMA-ES generations (default 30)")
    int generations;

    @Option(names = "--population", defaultValue = "0",
            description = "candidates per generation (default 0: 4 + 3·ln(coefficients))")
    int population;

    @Option(names = "--initial", description = "every number's start (default: coefficients 0.3, a genome the "
            + "recipe's values)")
    Double initial;

    @Option(names = "--bounds", split = ",", paramLabel = "LO,HI",
            description = "every number's bounds (default: coefficients 0,1; a genome per parameter)")
    double[] bounds;

    @Option(names = "--sigma", defaultValue = "0.1", description = "the initial step size (default 0.1)")
    double sigma;

    @Option(names = "--seed", defaultValue = "0", description = "the search's seed (default 0)")
    long seed;

    @Option(names = "--threads", defaultValue = "1", description = "candidates evaluated at once (default 1)")
    int threads;

    @Option(names = "--samples", defaultValue = "0", description = "score candidates on each task's first N samples "
            + "(default 0: all)")
    int samples;

    @Option(names = "--confident", paramLabel = "SHARE", description = "with --objective tinting: fit on the share "
            + "of each task's samples whose pseudo-label the fine-tune is surest of (Tinting++; default 1: all)")
    Double confident;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (samples < 0) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--samples must be 0 (all) or positive, got " + samples);
        }
        if (bounds != null && bounds.length != 2) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--bounds takes two numbers, LO,HI; got " + bounds.length);
        }
        boolean tinting = "tinting".equals(objective);
        if (confident != null && !(confident > 0 && confident <= 1)) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--confident must be a share in (0, 1], got " + confident);
        }
        if (confident != null && !tinting) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--confident selects the samples of --objective tinting; it does nothing here");
        }
        if (tinting && genome != null) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--objective tinting fits task-arithmetic coefficients and heads; it does not take --genome");
        }
        SearchProblem problem = SearchProblem.of(recipe, tasks)
                .withGranularity(CoefficientBlocks.Granularity.named(granularity), groups)
                .withObjective(objective == null || tinting ? null : CoefficientSearch.Objective.named(objective))
                .withSamples(samples);
        if (genome != null) {
            problem = problem.withGenome(genome, groups);
        }
        if (tinting) {
            Tinting.check(TaskFile.read(tasks));
        }
        boolean created = !Files.exists(output);
        try {
            Files.createDirectories(output);
            try (TemporaryFolder work = TemporaryFolder.in(output, ".candidates-");
                 SearchProblem.Opened opened = problem.open(work.path())) {
                if (tinting) {
                    tint(out, (CoefficientModel) opened.space(), opened.tasks());
                } else {
                    search(out, opened, engine.apply(problem));
                }
            }
        } catch (RuntimeException e) {
            if (created) { // nothing half-done left behind: an output folder this run made and left empty goes
                try {
                    Files.deleteIfExists(output);
                } catch (IOException notEmpty) {
                    // the search wrote something (a checkpoint to resume from): keep it
                }
            }
            throw e;
        }
        out.flush();
        return 0;
    }

    private void search(PrintWriter out, SearchProblem.Opened opened, CoefficientSearch.Engine engine) {
        SearchSpace space = opened.space();
        CoefficientSearch search = opened.search().generations(generations)
                .population(population).sigma(sigma).seed(seed).threads(threads).engine(engine)
                .checkpoint(output.resolve("search.json"))
                .onGeneration(g -> {
                    out.printf(Locale.ROOT, "generation %d: best %.5f, mean %.5f, sigma %.4f, best so far %.5f%n",
                            g.generation(), g.bestCost(), g.meanCost(), g.sigma(), g.bestSoFarCost());
                    out.flush();
                });
        if (initial != null) {
            search.initial(initial);
        }
        if (bounds != null) {
            search.bounds(bounds[0], bounds[1]);
        }
        out.printf(Locale.ROOT, "searching %d numbers (%s), objective %s%n", space.size(), space.describe(),
                search.objective().name().toLowerCase(Locale.ROOT));
        CoefficientSearch.Result r = search.run();
        Path best = output.resolve("recipe.yaml");
        space.writeRecipe(r.coefficients(), best);
        plot(r, output.resolve("convergence.svg"));
        Recipes.read(best).run(output.resolve("model.onnx"), Execution.defaults());
        out.printf(Locale.ROOT, "best cost %.5f at %s%n", r.cost(), Arrays.toString(Arrays.stream(r.coefficients())
                .map(v -> Math.round(v * 1e4) / 1e4).toArray()));
        out.println("wrote " + best + ", " + output.resolve("model.onnx") + ", " + output.resolve("search.json")
                + ", " + output.resolve("convergence.svg"));
    }

    /** Model Tinting: the coefficients and each task's refitted head, written as .npy files under heads/. */
    private void tint(PrintWriter out, CoefficientModel m, List<Task> taskList) throws IOException {
        Tinting tinting = Tinting.over(m, taskList);
        if (confident != null) {
            tinting.confident(confident);
        }
        out.printf(Locale.ROOT, "tinting %d coefficients (%s) and %d heads, 3 rounds of %d generations%n", m.size(),
                m.describe(), taskList.size(), Math.max(1, generations / 3));
        out.flush();
        Tinting.Result r = tinting.rounds(3).generations(Math.max(1, generations / 3)).seed(seed).run();
        Path best = output.resolve("recipe.yaml");
        m.writeRecipe(r.coefficients(), best);
        Recipes.read(best).run(output.resolve("model.onnx"), Execution.defaults());
        Path heads = Files.createDirectories(output.resolve("heads"));
        for (int t = 0; t < taskList.size(); t++) {
            Head h = r.heads().get(t);
            String name = taskList.get(t).name().replaceAll("[^A-Za-z0-9._-]", "_");
            NpyArray.writeFloats(heads.resolve(name + ".npy"), h.weights(), h.classes(), h.width());
            NpyArray.writeFloats(heads.resolve(name + "_bias.npy"), h.bias(), h.classes());
        }
        out.printf(Locale.ROOT, "cost %.5f (cross-entropy against the fine-tunes' predictions) at %s%n", r.cost(),
                Arrays.toString(Arrays.stream(r.coefficients()).map(v -> Math.round(v * 1e4) / 1e4).toArray()));
        out.println("wrote " + best + ", " + output.resolve("model.onnx") + " and each task's tinted head in " + heads
                + " (NAME.npy, NAME_bias.npy: give them to the task's head: and head_bias:)");
    }

    private static void plot(CoefficientSearch.Result r, Path file) {
        double[] x = r.generations().stream().mapToDouble(CoefficientSearch.Generation::generation).toArray();
        LinePlot.row(file, List.of(LinePlot.linear("coefficient search", "generation", "cost")
                .series("best of generation", x, r.generations().stream()
                        .mapToDouble(CoefficientSearch.Generation::bestCost).toArray())
                .series("mean of generation", x, r.generations().stream()
                        .mapToDouble(CoefficientSearch.Generation::meanCost).toArray())
                .series("best so far", x, r.generations().stream()
                        .mapToDouble(CoefficientSearch.Generation::bestSoFarCost).toArray())));
    }
}
