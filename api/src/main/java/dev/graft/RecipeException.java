package dev.graft;

import java.nio.file.Path;

/** A recipe that cannot be run as written: unknown or misplaced keys, values of the wrong kind. */
public class RecipeException extends GraftException {
    private static final long serialVersionUID = 1L;

    public RecipeException(Path recipe, String problem) {
        super(recipe, null, problem);
    }

    public RecipeException(Path recipe, String problem, Throwable cause) {
        super(recipe, null, problem, cause);
    }
}
