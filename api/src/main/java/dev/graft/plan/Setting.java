package dev.graft.plan;

import dev.graft.InvalidSettingException;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A parameter value as recipes give it (the mergekit shape), resolved per tensor by {@link #at}:
 * <ul>
 *   <li>a scalar;</li>
 *   <li>a gradient {@code [v0, v1, ..., vk]}: interpolated linearly at {@code t ∈ [0,1]}, the tensor's depth
 *   ({@code layer / (layers − 1)}): {@code s = t·k}, {@code v = (1 − frac(s))·v[⌊s⌋] + frac(s)·v[min(k, ⌊s⌋+1)]};</li>
 *   <li>a list of conditions {@code {filter, value}}: the first whose filter is a substring of the tensor name
 *   (or is absent or {@code *}) gives the value; if none matches, the setting does not apply to the tensor.</li>
 * </ul>
 */
public abstract class Setting {
    private Setting() {
    }

    /** The value for {@code tensor} at depth {@code t}, or null if no condition matches it. */
    public abstract Double at(String tensor, double t);

    /**
     * Whether every value this setting gives, for any tensor and depth, lies in {@code [min, max]} (a gradient's
     * values lie between those it lists).
     */
    public abstract boolean within(double min, double max);

    public static Setting of(double value) {
        return new Scalar(value);
    }

    public static Setting gradient(List<Double> values) {
        return new Gradient(values);
    }

    /** {@code settings} as text, sorted by name: for reports and provenance. */
    public static Map<String, String> describe(Map<String, Setting> settings) {
        Map<String, String> m = new TreeMap<>();
        settings.forEach((k, v) -> m.put(k, v.toString()));
        return m;
    }

    public static Setting conditional(List<Condition> conditions) {
        return new Conditional(conditions);
    }

    /** One {@code {filter, value}} entry; a null filter matches every tensor. */
    public record Condition(String filter, Setting value) {
        public Condition {
            Objects.requireNonNull(value, "value");
        }

        boolean matches(String tensor) {
            return filter == null || filter.equals("*") || tensor.contains(filter);
        }
    }

    private static final class Scalar extends Setting {
        private final double value;

        Scalar(double value) {
            this.value = value;
        }

        @Override
        public Double at(String tensor, double t) {
            return value;
        }

        @Override
        public boolean within(double min, double max) {
            return value >= min && value <= max;
        }

        @Override
        public String toString() {
            return Double.toString(value);
        }
    }

    private static final class Gradient extends Setting {
        private final double[] values;

        Gradient(List<Double> values) {
            if (values.isEmpty()) {
                throw new InvalidSettingException("a gradient needs at least one value");
            }
            this.values = values.stream().mapToDouble(Double::doubleValue).toArray();
        }

        @Override
        public Double at(String tensor, double t) {
            double scaled = Math.max(0, Math.min(1, t)) * (values.length - 1);
            int i0 = (int) scaled;
            int i1 = Math.min(values.length - 1, i0 + 1);
            double frac = scaled - i0;
            return (1 - frac) * values[i0] + frac * values[i1];
        }

        @Override
        public boolean within(double min, double max) {
            return Arrays.stream(values).allMatch(v -> v >= min && v <= max);
        }

        @Override
        public String toString() {
            return Arrays.toString(values);
        }
    }

    private static final class Conditional extends Setting {
        private final List<Condition> conditions;

        Conditional(List<Condition> conditions) {
            this.conditions = List.copyOf(conditions);
        }

        @Override
        public Double at(String tensor, double t) {
            for (Condition c : conditions) {
                if (c.matches(tensor)) {
                    return c.value().at(tensor, t);
                }
            }
            return null;
        }

        @Override
        public boolean within(double min, double max) {
            return conditions.stream().allMatch(c -> c.value().within(min, max));
        }

        @Override
        public String toString() {
            return conditions.toString();
        }
    }
}
