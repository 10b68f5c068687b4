package dev.graft.search;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A searched point as the recipe that merges it, for {@code graft merge}: the method, the base, each model's
 * parameters and the global ones. A parameter is a number, or one number per tensor: a list of
 * {@code {filter: NAME, value}} entries, the filters being full tensor names, longest first (a filter matches the
 * tensors whose names contain it and the first match wins, so a name that is part of a longer one never takes the
 * longer one's value), then {@code {value: OTHERWISE}} for the rest.
 */
public final class SearchRecipe {
    /** A parameter's value: one number, or one per tensor with a value for the tensors not named. */
    public record Value(double otherwise, Map<String, Double> perTensor) {
        /** One number for every tensor. */
        public static Value of(double v) {
            return new Value(v, Map.of());
        }
    }

    private final String method;
    private final Path base;
    private final List<Path> models = new ArrayList<>();
    private final List<Map<String, Value>> modelParameters = new ArrayList<>();
    private final Map<String, Object> parameters = new LinkedHashMap<>();

    /** A recipe of {@code method} from {@code base}. */
    public SearchRecipe(String method, Path base) {
        this.method = method;
        this.base = base;
    }

    /** Adds a model with its parameters. */
    public SearchRecipe model(Path model, Map<String, Value> values) {
        models.add(model);
        modelParameters.add(values);
        return this;
    }

    /** Sets a global parameter: a {@link Value}, or a boolean. */
    public SearchRecipe parameter(String name, Object value) {
        parameters.put(name, value);
        return this;
    }

    /** The recipe's text, its paths relative to {@code folder}, after a comment line. */
    public String yaml(String comment, Path folder) {
        StringBuilder y = new StringBuilder("# ").append(comment).append('\n');
        y.append("merge_method: ").append(method).append('\n');
        y.append("base_model: ").append(quote(relative(folder, base))).append('\n');
        if (!parameters.isEmpty()) {
            y.append("parameters:\n");
            parameters.forEach((k, v) -> value(y, "  ", k, v));
        }
        y.append("models:\n");
        for (int m = 0; m < models.size(); m++) {
            y.append("  - model: ").append(quote(relative(folder, models.get(m)))).append('\n');
            if (!modelParameters.get(m).isEmpty()) {
                y.append("    parameters:\n");
                modelParameters.get(m).forEach((k, v) -> value(y, "      ", k, v));
            }
        }
        return y.toString();
    }

    /** Writes {@link #yaml} to {@code file}, paths relative to its folder. */
    public void write(String comment, Path file) {
        try {
            Files.writeString(file, yaml(comment, file.toAbsolutePath().getParent()));
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    private static void value(StringBuilder y, String indent, String name, Object v) {
        y.append(indent).append(name).append(':');
        if (v instanceof Boolean b) {
            y.append(' ').append(b).append('\n');
            return;
        }
        Value value = (Value) v;
        if (value.perTensor().isEmpty()) {
            y.append(' ').append(number(value.otherwise())).append('\n');
            return;
        }
        y.append('\n');
        List<Map.Entry<String, Double>> tensors = new ArrayList<>(value.perTensor().entrySet());
        tensors.sort(Comparator.comparingInt((Map.Entry<String, Double> e) -> -e.getKey().length())
                .thenComparing(Map.Entry::getKey));
        for (Map.Entry<String, Double> e : tensors) {
            y.append(indent).append("  - {filter: ").append(quote(e.getKey())).append(", value: ")
                    .append(number(e.getValue())).append("}\n");
        }
        y.append(indent).append("  - {value: ").append(number(value.otherwise())).append("}\n");
    }

    private static String relative(Path folder, Path p) {
        return folder.relativize(p.toAbsolutePath().normalize()).toString();
    }

    /** A double-quoted YAML (and JSON) string. */
    private static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                q.append('\\').append(ch);
            } else if (ch < 0x20) {
                q.append(String.format(Locale.ROOT, "\\u%04x", (int) ch));
            } else {
                q.append(ch);
            }
        }
        return q.append('"').toString();
    }

    /** The shortest decimal that reads back as {@code v}. */
    private static String number(double v) {
        return Double.toString(v);
    }
}
