package dev.graft.plan;

/**
 * A parameter a merge method reads: its name, whether it is given per model or once for the merge, its default
 * ({@code null}: required) and the values it may take, {@code [min, max]} (unbounded unless {@link #within} says).
 * Booleans are 1 (true) and 0 (false).
 */
public record ParameterSpec(String name, Scope scope, Double defaultValue, String description, double min,
                            double max) {
    /** Where a parameter is set. */
    public enum Scope {
        /** Once for the merge (recipe {@code parameters:}), possibly varying per tensor. */
        GLOBAL,
        /** Per input model (recipe {@code models[i].parameters:}), falling back to the global value. */
        MODEL
    }

    public static ParameterSpec global(String name, Double defaultValue, String description) {
        return new ParameterSpec(name, Scope.GLOBAL, defaultValue, description, Double.NEGATIVE_INFINITY,
                Double.POSITIVE_INFINITY);
    }

    public static ParameterSpec model(String name, Double defaultValue, String description) {
        return new ParameterSpec(name, Scope.MODEL, defaultValue, description, Double.NEGATIVE_INFINITY,
                Double.POSITIVE_INFINITY);
    }

    /** The same parameter, taking values in {@code [min, max]} only. */
    public ParameterSpec within(double min, double max) {
        return new ParameterSpec(name, scope, defaultValue, description, min, max);
    }

    /** The values it may take, as {@code [min, max]}. */
    public String range() {
        return "[" + number(min) + ", " + number(max) + "]";
    }

    private static String number(double v) {
        return v == Math.rint(v) && !Double.isInfinite(v) ? Long.toString((long) v) : Double.toString(v);
    }

    /** Whether every value {@code setting} gives, for any tensor, lies in {@code [min, max]}. */
    public boolean admits(Setting setting) {
        return setting.within(min, max);
    }
}
