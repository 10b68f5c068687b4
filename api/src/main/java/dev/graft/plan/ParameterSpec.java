package dev.graft.plan;

/**
 * A parameter a merge method reads: its name, whether it is given per model or once for the merge, and its
 * default ({@code null}: required). Booleans are 1 (true) and 0 (false).
 */
public record ParameterSpec(String name, Scope scope, Double defaultValue, String description) {
    /** Where a parameter is set. */
    public enum Scope {
        /** Once for the merge (recipe {@code parameters:}), possibly varying per tensor. */
        GLOBAL,
        /** Per input model (recipe {@code models[i].parameters:}), falling back to the global value. */
        MODEL
    }

    public static ParameterSpec global(String name, Double defaultValue, String description) {
        return new ParameterSpec(name, Scope.GLOBAL, defaultValue, description);
    }

    public static ParameterSpec model(String name, Double defaultValue, String description) {
        return new ParameterSpec(name, Scope.MODEL, defaultValue, description);
    }
}
