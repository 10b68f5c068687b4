package dev.graft.recipe;

import dev.graft.exec.Execution;
import java.nio.file.Path;

/**
 * A recipe read from a YAML file ({@link Recipes#read}): typed, checked, and ready to run. Each kind of
 * {@code merge_method} has its own record type in the module that implements it (tensor-wise merges and PLeaS in
 * {@code graft-merge}, the LoRA recipes in {@code graft-adapters}), found through a {@link RecipeKind}.
 */
public interface Recipe {
    /** The recipe file. */
    Path file();

    /**
     * Writes the recipe's output (a model, or an adapter folder) to {@code output}; returns its report, which
     * Jackson can write as JSON.
     *
     * @throws dev.graft.GraftException if an input is missing or malformed, or the output cannot be written
     */
    Object run(Path output, Execution execution);
}
