package dev.graft.recipe;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.graft.RecipeException;
import dev.graft.data.CalibrationSpec;
import dev.graft.data.TextFiles;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * A recipe file as read (strict UTF-8, then YAML), with the checks every kind of recipe makes: known keys only,
 * values of the right kind, paths relative to the recipe's folder, and the calibration keys. Every error is a
 * {@link RecipeException} naming the file and the key.
 *
 * @param file the recipe file
 * @param root its top-level mapping
 */
public record RecipeFile(Path file, JsonNode root) {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** Reads {@code file}: it must hold a YAML mapping. */
    public static RecipeFile read(Path file) {
        JsonNode root;
        try {
            root = YAML.readTree(TextFiles.read(file));
        } catch (JsonProcessingException e) {
            throw new RecipeException(file, "is not valid YAML: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new RecipeException(file, "is not a recipe or task file (expected a YAML mapping)");
        }
        return new RecipeFile(file, root);
    }

    /** The folder paths are relative to. */
    public Path folder() {
        return file.toAbsolutePath().getParent();
    }

    /** An error about this recipe. */
    public RecipeException error(String problem) {
        return new RecipeException(file, problem);
    }

    /** Refuses keys of {@code node} not in {@code known}; {@code where} names the section ("" for the top). */
    public void keys(JsonNode node, Set<String> known, String where) {
        node.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) {
                throw error("unknown key '" + k + "'" + (where.isEmpty() ? "" : " in " + where) + " (known: "
                        + new TreeSet<>(known) + ")");
            }
        });
    }

    /** The non-empty text at {@code key} of {@code node}. */
    public String text(JsonNode node, String key) {
        JsonNode n = node.get(key);
        if (n == null || !n.isValueNode() || n.asText().isEmpty()) {
            throw error("'" + key + "' must be given as text");
        }
        return n.asText();
    }

    /** The path at {@code key} of {@code node}, resolved against the recipe's folder. */
    public Path path(JsonNode node, String key) {
        return folder().resolve(text(node, key));
    }

    /** The integer at {@code key}, or {@code otherwise} when absent. */
    public int integer(JsonNode node, String key, int otherwise) {
        JsonNode n = node.get(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber()) {
            throw error("'" + key + "' must be an integer, got " + n);
        }
        return n.asInt();
    }

    /** The boolean at {@code key} ({@code true} or {@code false}), or {@code otherwise} when absent. */
    public boolean bool(JsonNode node, String key, boolean otherwise) {
        JsonNode n = node.get(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.isBoolean()) {
            throw error("'" + key + "' must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    /** The number at {@code key}, or {@code otherwise} when absent. */
    public double number(JsonNode node, String key, double otherwise) {
        JsonNode n = node.get(key);
        if (n == null) {
            return otherwise;
        }
        if (!n.isNumber()) {
            throw error("'" + key + "' must be a number, got " + n);
        }
        return n.asDouble();
    }

    /**
     * The calibration data of section {@code node} ({@code calibration}, with {@code tokenizer} and
     * {@code samples} for text or {@code input} for a {@code .npy} array), or null if it has no
     * {@code calibration} key.
     */
    public CalibrationSpec calibration(JsonNode node, int defaultSamples) {
        if (!node.has("calibration")) {
            return null;
        }
        return new CalibrationSpec(path(node, "calibration"), node.has("tokenizer") ? path(node, "tokenizer") : null,
                node.has("input") ? text(node, "input") : null, integer(node, "samples", defaultSamples));
    }
}
