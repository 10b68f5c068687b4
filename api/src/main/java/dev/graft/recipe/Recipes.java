package dev.graft.recipe;

import dev.graft.RecipeException;
import java.nio.file.Path;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * The registry of recipe kinds, keyed by {@code merge_method}: every {@link RecipeKind} on the class path. Reading
 * a recipe is one lookup; an unknown {@code merge_method} is an error listing the known ones.
 */
public final class Recipes {
    private static volatile Map<String, RecipeKind> kinds;

    private Recipes() {
    }

    /**
     * Reads and checks the recipe in {@code file}.
     *
     * @throws dev.graft.GraftIoException if the file cannot be read
     * @throws RecipeException            if it is not a recipe of a known kind, or not a valid one
     */
    public static Recipe read(Path file) {
        RecipeFile recipe = RecipeFile.read(file);
        String method = recipe.text(recipe.root(), "merge_method");
        RecipeKind kind = kinds().get(method);
        if (kind == null) {
            throw recipe.error("merge_method '" + method + "' is not known (known: " + String.join(", ",
                    kinds().keySet()) + ")");
        }
        return kind.parse(recipe);
    }

    /** Every known {@code merge_method}, sorted, with its kind. */
    public static Map<String, RecipeKind> kinds() {
        Map<String, RecipeKind> k = kinds;
        if (k == null) {
            Map<String, RecipeKind> found = new TreeMap<>();
            for (RecipeKind kind : ServiceLoader.load(RecipeKind.class, Recipes.class.getClassLoader())) {
                for (String name : kind.names()) {
                    RecipeKind before = found.put(name, kind);
                    if (before != null) {
                        throw new IllegalStateException("merge_method '" + name + "' is claimed by both "
                                + before.getClass().getName() + " and " + kind.getClass().getName());
                    }
                }
            }
            kinds = k = java.util.Collections.unmodifiableMap(found);
        }
        return k;
    }
}
