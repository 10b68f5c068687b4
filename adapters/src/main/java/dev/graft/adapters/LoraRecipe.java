package dev.graft.adapters;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.graft.RecipeException;
import dev.graft.merge.MergeMethods;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A LoRA recipe, in the style of the merge recipes (paths relative to the recipe's folder):
 * <pre>
 * merge_method: lora_apply          # merge the adapters into the base model's weights ({@link LoraApply})
 * base_model: bge.onnx
 * adapters:
 *   - adapter: math-lora            # a PEFT folder
 *     weight: 0.5
 *   - code-lora                     # weight 1
 * mapping: {encoder.layer.0.attention.self.query: onnx::MatMul_1525}   # optional
 * </pre>
 * or {@code merge_method: lora_compose} ({@link LoraCompose}) with {@code adapters}, {@code method} ({@code cat},
 * {@code svd}, or a task-vector merge method such as {@code ties}), {@code rank}, {@code energy},
 * {@code parameters} and {@code seed}; its output is an adapter folder. Unknown keys are errors naming them.
 */
public final class LoraRecipe {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> APPLY = Set.of("merge_method", "base_model", "adapters", "mapping");
    private static final Set<String> COMPOSE = Set.of("merge_method", "adapters", "method", "rank", "energy",
            "parameters", "seed");

    private LoraRecipe() {
    }

    /** Whether {@code file} is a LoRA recipe (its merge_method starts with {@code lora_}). */
    public static boolean isLoraRecipe(Path file) {
        return read(file).path("merge_method").asText().startsWith("lora_");
    }

    /** Runs the recipe: writes the model ({@code lora_apply}) or the adapter folder ({@code lora_compose}). */
    public static Object run(Path file, Path out) {
        JsonNode root = read(file);
        String method = root.path("merge_method").asText();
        Path folder = file.toAbsolutePath().getParent();
        switch (method) {
            case "lora_apply" -> {
                keys(file, root, APPLY);
                if (!root.has("base_model")) {
                    throw new RecipeException(file, "lora_apply needs base_model");
                }
                LoraApply apply = LoraApply.to(folder.resolve(root.get("base_model").asText()));
                adapters(file, root).forEach((dir, w) -> apply.adapter(folder.resolve(dir), w));
                Map<String, String> mapping = new LinkedHashMap<>();
                root.path("mapping").properties().forEach(e -> mapping.put(e.getKey(), e.getValue().asText()));
                return apply.mapping(mapping).writeTo(out);
            }
            case "lora_compose" -> {
                keys(file, root, COMPOSE);
                LoraCompose compose = LoraCompose.of();
                adapters(file, root).forEach((dir, w) -> compose.adapter(folder.resolve(dir), w));
                String how = root.path("method").asText("cat");
                int rank = root.path("rank").asInt(16);
                if (how.equals("cat") || how.equals("svd")) {
                    compose.method(how.equals("cat") ? LoraCompose.Method.CAT : LoraCompose.Method.SVD, rank);
                } else {
                    Map<String, Double> parameters = new LinkedHashMap<>();
                    root.path("parameters").properties()
                            .forEach(e -> parameters.put(e.getKey(), e.getValue().asDouble()));
                    try {
                        compose.merged(MergeMethods.create(how), parameters, root.path("seed").asLong(0), rank);
                    } catch (IllegalArgumentException e) {
                        throw new RecipeException(file, "method: " + e.getMessage());
                    }
                }
                if (root.has("energy")) {
                    compose.energy(root.get("energy").asDouble());
                }
                return compose.writeTo(out);
            }
            default -> throw new RecipeException(file, "merge_method '" + method + "' is not a LoRA recipe (known: "
                    + "lora_apply, lora_compose)");
        }
    }

    private static JsonNode read(Path file) {
        try {
            JsonNode root = YAML.readTree(Files.readString(file));
            if (root == null || !root.isObject()) {
                throw new RecipeException(file, "is not a recipe (expected a mapping with merge_method)");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw new RecipeException(file, "is not valid YAML: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new RecipeException(file, "cannot be read: " + e.getMessage(), e);
        }
    }

    private static void keys(Path file, JsonNode root, Set<String> known) {
        root.fieldNames().forEachRemaining(k -> {
            if (!known.contains(k)) {
                throw new RecipeException(file, "unknown key '" + k + "' (known: " + new TreeSet<>(known) + ")");
            }
        });
    }

    /** Adapter folder → weight, from {@code adapters: [DIR | {adapter: DIR, weight: W}]}. */
    private static Map<String, Double> adapters(Path file, JsonNode root) {
        JsonNode list = root.get("adapters");
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw new RecipeException(file, "'adapters' must be a non-empty list of adapter folders or {adapter, "
                    + "weight}");
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (JsonNode a : list) {
            if (a.isTextual()) {
                out.put(a.asText(), 1.0);
            } else if (a.isObject() && a.has("adapter")) {
                a.fieldNames().forEachRemaining(k -> {
                    if (!k.equals("adapter") && !k.equals("weight")) {
                        throw new RecipeException(file, "unknown key '" + k + "' in adapters (known: adapter, weight)");
                    }
                });
                out.put(a.get("adapter").asText(), a.path("weight").asDouble(1.0));
            } else {
                throw new RecipeException(file, "each of 'adapters' is a folder or {adapter, weight}, got " + a);
            }
        }
        return out;
    }
}
