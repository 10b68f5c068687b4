package dev.graft.adapters;

import dev.graft.InvalidSettingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.exec.Execution;
import dev.graft.plan.MergeMethodFactory;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.RecipeKind;
import dev.graft.recipe.Recipes;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

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
 * Unknown keys are errors naming them. Read with {@link Recipes#read}; {@link Kind} registers the four kinds.
 */
public sealed interface LoraRecipe extends Recipe {
    /** {@code merge_method: lora_apply}: writes the model with the adapters merged in. */
    record Apply(Path file, LoraApply apply) implements LoraRecipe {
        private static final Set<String> KEYS = Set.of("merge_method", "base_model", "adapters", "mapping");

        @Override
        public LoraApply.Report run(Path output, Execution execution) {
            return apply.progress(execution.progress()).writeTo(output);
        }
    }

    /** {@code merge_method: lora_compose}: writes one adapter folder. */
    record Compose(Path file, LoraCompose compose) implements LoraRecipe {
        private static final Set<String> KEYS = Set.of("merge_method", "adapters", "method", "rank", "energy",
                "parameters", "seed");

        @Override
        public Object run(Path output, Execution execution) {
            return compose.writeTo(output);
        }
    }

    /** {@code merge_method: lora_share}: writes an adapter folder with shared factors. */
    record Share(Path file, LoraShare share) implements LoraRecipe {
        private static final Set<String> KEYS = Set.of("merge_method", "adapter", "base_model", "fine_tuned", "rank",
                "groups");

        @Override
        public Object run(Path output, Execution execution) {
            return share.writeTo(output);
        }
    }

    /** {@code merge_method: lora_recursive}: writes the recursive model. */
    record Recursive(Path file, RecursiveModel model) implements LoraRecipe {
        private static final Set<String> KEYS = Set.of("merge_method", "base_model", "blocks", "rank", "tying",
                "shared_from", "calibration", "tokenizer", "input", "samples", "damping", "refinements");

        @Override
        public RecursiveModel.Report run(Path output, Execution execution) {
            return model.writeTo(output);
        }
    }

    /** The four LoRA kinds, registered as one {@link RecipeKind}. */
    final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("lora_apply", "lora_compose", "lora_share", "lora_recursive");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            Path folder = recipe.folder();
            String method = recipe.text(root, "merge_method");
            try {
                return switch (method) {
                    case "lora_apply" -> apply(recipe, root);
                    case "lora_compose" -> compose(recipe, root, folder);
                    case "lora_share" -> share(recipe, root);
                    case "lora_recursive" -> recursive(recipe, root);
                    default -> throw recipe.error("merge_method '" + method + "' is not a LoRA recipe");
                };
            } catch (IllegalArgumentException | InvalidSettingException e) {
                throw recipe.error(method + ": " + e.getMessage());
            }
        }

        private static Apply apply(RecipeFile recipe, JsonNode root) {
            recipe.keys(root, Apply.KEYS, "");
            if (!root.has("base_model")) {
                throw recipe.error("lora_apply needs base_model");
            }
            LoraApply apply = LoraApply.to(recipe.path(root, "base_model"));
            adapters(recipe, root).forEach(apply::adapter);
            Map<String, String> mapping = new LinkedHashMap<>();
            root.path("mapping").properties().forEach(e -> mapping.put(e.getKey(), e.getValue().asText()));
            return new Apply(recipe.file(), apply.mapping(mapping));
        }

        private static Compose compose(RecipeFile recipe, JsonNode root, Path folder) {
            recipe.keys(root, Compose.KEYS, "");
            LoraCompose compose = LoraCompose.of();
            adapters(recipe, root).forEach(compose::adapter);
            String how = root.path("method").asText("cat");
            int rank = recipe.integer(root, "rank", 16);
            if (how.equals("cat") || how.equals("svd")) {
                compose.method(how.equals("cat") ? LoraCompose.Method.CAT : LoraCompose.Method.SVD, rank);
            } else {
                Map<String, Double> parameters = new LinkedHashMap<>();
                root.path("parameters").properties().forEach(e -> parameters.put(e.getKey(), e.getValue().asDouble()));
                compose.merged(MergeMethodFactory.find(how), parameters, root.path("seed").asLong(0), rank);
            }
            if (root.has("energy")) {
                compose.energy(recipe.number(root, "energy", 1));
            }
            return new Compose(recipe.file(), compose);
        }

        private static Share share(RecipeFile recipe, JsonNode root) {
            recipe.keys(root, Share.KEYS, "");
            boolean fromAdapter = root.has("adapter");
            if (fromAdapter == (root.has("base_model") || root.has("fine_tuned"))
                    || !fromAdapter && !(root.has("base_model") && root.has("fine_tuned"))) {
                throw recipe.error("lora_share needs either adapter or both base_model and fine_tuned");
            }
            LoraShare share = fromAdapter ? LoraShare.from(recipe.path(root, "adapter"))
                    : LoraShare.between(recipe.path(root, "base_model"), recipe.path(root, "fine_tuned"));
            return new Share(recipe.file(), share.rank(recipe.integer(root, "rank", 16))
                    .groups(recipe.integer(root, "groups", 1)));
        }

        private static Recursive recursive(RecipeFile recipe, JsonNode root) {
            recipe.keys(root, Recursive.KEYS, "");
            if (!root.has("base_model") || !root.has("blocks")) {
                throw recipe.error("lora_recursive needs base_model and blocks");
            }
            Path model = recipe.path(root, "base_model");
            String tying = root.path("tying").asText("consecutive");
            if (!tying.equals("consecutive") && !tying.equals("cyclic")) {
                throw recipe.error("tying '" + tying + "' is not known: consecutive or cyclic");
            }
            RecursiveModel r = RecursiveModel.of(model).blocks(recipe.integer(root, "blocks", 0))
                    .rank(recipe.integer(root, "rank", 64))
                    .tying(RecursiveModel.Tying.valueOf(tying.toUpperCase(Locale.ROOT)))
                    .damping(recipe.number(root, "damping", 1e-2));
            if (root.has("refinements")) {
                r.refinements(recipe.integer(root, "refinements", 0));
            }
            if (root.has("shared_from")) {
                r.sharedFrom(recipe.integer(root, "shared_from", 0));
            }
            if (root.has("calibration")) {
                r.calibration(recipe.calibration(root, 512).load(model));
            }
            return new Recursive(recipe.file(), r);
        }

        /** Adapter folder → weight, from {@code adapters: [DIR | {adapter: DIR, weight: W}]}. */
        private static Map<Path, Double> adapters(RecipeFile recipe, JsonNode root) {
            JsonNode list = root.get("adapters");
            if (list == null || !list.isArray() || list.isEmpty()) {
                throw recipe.error("'adapters' must be a non-empty list of adapter folders or {adapter, weight}");
            }
            Map<Path, Double> out = new LinkedHashMap<>();
            for (JsonNode a : list) {
                if (a.isTextual()) {
                    out.put(recipe.folder().resolve(a.asText()), 1.0);
                } else if (a.isObject() && a.has("adapter")) {
                    recipe.keys(a, Set.of("adapter", "weight"), "adapters");
                    out.put(recipe.path(a, "adapter"), recipe.number(a, "weight", 1.0));
                } else {
                    throw recipe.error("each of 'adapters' is a folder or {adapter, weight}, got " + a);
                }
            }
            return out;
        }
    }
}
