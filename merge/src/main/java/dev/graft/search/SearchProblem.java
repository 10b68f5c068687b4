package dev.graft.search;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.InvalidSettingException;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.recipe.RecipeFile;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a search's costs are, described by files so that any machine with the same paths rebuilds the same problem
 * ({@link #open}): the recipe whose models are searched (its task-vector coefficients at a granularity, or with
 * {@code genome} the recipe's own parameters, {@link RecipeGenome}), the task file, the objective (null: the tasks'
 * default) and the sample budget. The optimiser's settings are not part of it: they live only where the search runs
 * ({@link CoefficientSearch}), and a remote engine ({@link CoefficientSearch.Engine}) sends only points.
 * Serializable, and equal problems are equal, so that an executor can keep one open problem per description.
 *
 * @param recipe the recipe file's absolute path
 * @param tasks the task file's absolute path
 * @param genome the recipe parameters searched, or null for task-vector coefficients
 */
public record SearchProblem(String recipe, String tasks, List<String> genome,
                            CoefficientBlocks.Granularity granularity, int groups, CoefficientSearch.Objective objective,
                            int samples) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Checks the numbers and makes the paths absolute. */
    public SearchProblem {
        if (groups < 1) {
            throw new InvalidSettingException("groups must be at least 1, got " + groups);
        }
        if (samples < 0) {
            throw new InvalidSettingException("samples must be 0 (all) or positive, got " + samples);
        }
        recipe = Path.of(recipe).toAbsolutePath().normalize().toString();
        tasks = Path.of(tasks).toAbsolutePath().normalize().toString();
        genome = genome == null ? null : List.copyOf(genome);
    }

    /** Task-wise coefficients of {@code recipe}'s models, scored on {@code tasks} by their default objective. */
    public static SearchProblem of(Path recipe, Path tasks) {
        return new SearchProblem(recipe.toString(), tasks.toString(), null, CoefficientBlocks.Granularity.TASK, 1,
                null, 0);
    }

    public SearchProblem withGranularity(CoefficientBlocks.Granularity g, int layerGroups) {
        return new SearchProblem(recipe, tasks, genome, g, layerGroups, objective, samples);
    }

    /** The recipe's own parameters ({@code weight}, {@code density}, ...) in {@code layerGroups} layer groups. */
    public SearchProblem withGenome(List<String> parameters, int layerGroups) {
        return new SearchProblem(recipe, tasks, parameters, granularity, layerGroups, objective, samples);
    }

    /** Scored by {@code o} (null: the tasks' default, {@link CoefficientSearch#objective()}). */
    public SearchProblem withObjective(CoefficientSearch.Objective o) {
        return new SearchProblem(recipe, tasks, genome, granularity, groups, o, samples);
    }

    /** Scored on each task's first {@code n} samples (0: all), {@link CoefficientSearch#samples}. */
    public SearchProblem withSamples(int n) {
        return new SearchProblem(recipe, tasks, genome, granularity, groups, objective, n);
    }

    /**
     * Reads the tasks and builds the space: a {@link RecipeGenome}, or a {@link CoefficientModel} of the recipe's
     * {@code base_model} and {@code models} with its models written in {@code work}.
     *
     * @throws dev.graft.GraftException naming the file if the recipe, the task file or a model cannot be used
     */
    public Opened open(Path work) {
        List<Task> read = TaskFile.read(Path.of(tasks));
        SearchSpace space = genome != null ? RecipeGenome.of(Path.of(recipe), genome, groups)
                : coefficients(work.resolve("candidates.onnx"));
        try {
            return new Opened(space, read, CoefficientSearch.over(space, read).objective(objective).samples(samples));
        } catch (RuntimeException e) {
            space.close();
            throw e;
        }
    }

    private CoefficientModel coefficients(Path file) {
        RecipeFile r = RecipeFile.read(Path.of(recipe));
        Path base = r.path(r.root(), "base_model");
        JsonNode entries = r.root().get("models");
        if (entries == null || !entries.isArray() || entries.isEmpty()) {
            throw r.error("'models' must be a non-empty list of models to search over");
        }
        List<Path> models = new ArrayList<>();
        for (JsonNode e : entries) {
            models.add(e.isTextual() ? r.folder().resolve(e.asText()) : r.path(e, "model"));
        }
        return CoefficientModel.build(base, models, granularity, groups, file);
    }

    /**
     * An opened problem: its space (closed with this), its tasks, and a search over them with the problem's objective
     * and sample budget, to be given the optimiser's settings.
     */
    public record Opened(SearchSpace space, List<Task> tasks, CoefficientSearch search) implements AutoCloseable {
        @Override
        public void close() {
            space.close();
        }
    }
}
