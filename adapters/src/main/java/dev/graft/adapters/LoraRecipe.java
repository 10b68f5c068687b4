package dev.graft.adapters;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.graft.RecipeException;
import dev.graft.merge.MergeMethods;
import dev.graft.merge.MergeRecipe;
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
 * {@code parameters} and {@code seed}; its output is an adapter folder. Sharing across layers:
 * <pre>
 * merge_method: lora_share          # one A per module kind, a B per layer ({@link LoraShare}); writes an adapter
 * adapter: math-lora                # or: base_model: bge.onnx + fine_tuned: e5.onnx
 * rank: 16
 * groups: 1                         # shared factors per kind (layers grouped by how alike their updates are)
 *
 * merge_method: lora_recursive      # K shared blocks with layer-wise LoRA ({@link RecursiveModel}); writes a model
 * base_model: bge.onnx
 * blocks: 6
 * rank: 64
 * tying: consecutive                # or cyclic
 * shared_from: 0                    # optional: each block takes this layer's weights instead of an average
 * calibration: heldout.txt          # optional: the data-aware fit (tokenizer, samples, input as in merge recipes)
 * tokenizer: bge-tokenizer.json
 * damping: 0.01
 * refinements: 8
 * </pre>
 * Unknown keys are errors naming them.
 */
public final class LoraRecipe {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> APPLY = Set.of("merge_method", "base_model", "adapters", "mapping");
    private static final Set<String> COMPOSE = Set.of("merge_method", "adapters", "method", "rank", "energy",
            "parameters", "seed");
    private static final Set<String> SHARE = Set.of("merge_method", "adapter", "base_model", "fine_tuned", "rank",
            "groups");
    private static final Set<String> RECURSIVE = Set.of("merge_method", "base_model", "blocks", "rank", "tying",
            "shared_from", "calibration", "tokenizer", "input", "samples", "damping", "refinements");

    private LoraRecipe() {
    }

    /** Whether {@code file} is a LoRA recipe (its merge_method starts with {@code lora_}). */
    public static boolean isLoraRecipe(Path file) {
        return read(file).path("merge_method").asText().startsWith("lora_");
    }

    /**
     * Runs the recipe: writes the model ({@code lora_apply}, {@code lora_recursive}) or the adapter folder
     * ({@code lora_compose}, {@code lora_share}); returns the report.
     */
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
            case "lora_share" -> {
                keys(file, root, SHARE);
                boolean fromAdapter = root.has("adapter");
                if (fromAdapter == (root.has("base_model") || root.has("fine_tuned"))
                        || !fromAdapter && !(root.has("base_model") && root.has("fine_tuned"))) {
                    throw new RecipeException(file, "lora_share needs either adapter or both base_model and "
                            + "fine_tuned");
                }
                LoraShare share = fromAdapter ? LoraShare.from(folder.resolve(root.get("adapter").asText()))
                        : LoraShare.between(folder.resolve(root.get("base_model").asText()),
                                folder.resolve(root.get("fine_tuned").asText()));
                try {
                    return share.rank(root.path("rank").asInt(16)).groups(root.path("groups").asInt(1)).writeTo(out);
                } catch (IllegalArgumentException e) {
                    throw new RecipeException(file, e.getMessage());
                }
            }
            case "lora_recursive" -> {
                keys(file, root, RECURSIVE);
                if (!root.has("base_model") || !root.has("blocks")) {
                    throw new RecipeException(file, "lora_recursive needs base_model and blocks");
                }
                RecursiveModel r;
                try {
                    r = RecursiveModel.of(folder.resolve(root.get("base_model").asText()))
                            .blocks(root.get("blocks").asInt()).rank(root.path("rank").asInt(64))
                            .tying(RecursiveModel.Tying.valueOf(root.path("tying").asText("consecutive")
                                    .toUpperCase(java.util.Locale.ROOT)))
                            .damping(root.path("damping").asDouble(1e-2));
                    if (root.has("refinements")) {
                        r.refinements(root.get("refinements").asInt());
                    }
                    if (root.has("shared_from")) {
                        r.sharedFrom(root.get("shared_from").asInt());
                    }
                } catch (IllegalArgumentException e) {
                    throw new RecipeException(file, e.getMessage() + " (tying: consecutive or cyclic)");
                }
                if (root.has("calibration")) {
                    r.calibration(MergeRecipe.calibration(folder, root, 512));
                }
                return r.writeTo(out);
            }
            default -> throw new RecipeException(file, "merge_method '" + method + "' is not a LoRA recipe (known: "
                    + "lora_apply, lora_compose, lora_share, lora_recursive)");
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
