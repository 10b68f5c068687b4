package dev.graft.search;

import dev.graft.eval.Candidate;
import java.nio.file.Path;

/**
 * What a search searches: points {@code x} of {@link #size()} numbers within bounds, each a model that can be run
 * ({@link #session}) and written as the recipe that merges it ({@link #writeRecipe}). Coefficients of task vectors
 * ({@link CoefficientModel}) and a recipe's numeric parameters ({@link RecipeGenome}) are the two.
 */
public interface SearchSpace extends AutoCloseable {
    /** The numbers a point has. */
    int size();

    /** Where a search starts, by default. */
    double[] initial();

    /** Each number's lower bound. */
    double[] lower();

    /** Each number's upper bound. */
    double[] upper();

    /** What the points are, for checkpoints and reports ({@code task-wise coefficients}, ...). */
    String describe();

    /** An open session running point {@code x}; close it after use. */
    Candidate.Session session(double[] x);

    /** Writes point {@code x} as a recipe file that {@code graft merge} runs. */
    void writeRecipe(double[] x, Path file);

    @Override
    void close();
}
