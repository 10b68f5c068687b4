package dev.graft.moe;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.exec.Execution;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.RecipeKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A routed-merge recipe ({@link WeightEnsemblingMoe}), run by {@code graft merge}:
 * <pre>
 * merge_method: wemoe
 * base_model: base.onnx
 * models:                        # the experts, fine-tunes of the base
 *   - model: task_a.onnx
 *     calibration: task_a.npy    # this expert's task samples (routers fitted or prototypes): a .npy array,
 *   - model: task_b.onnx
 *     calibration: task_b.txt    #   or text with a tokenizer (samples: lines used, default 128)
 *     tokenizer: tokenizer.json
 * router: fitted                 # fitted (default), prototypes, constant, or file (router_file: a folder of .npy)
 * router_scale: 1.0              # fitted and prototype routers: coefficients = scale × task posteriors
 * router_ridge: 0.01             # fitted routers: L2 pull of the logistic fit
 * passes: 2                      # fitted and prototype routers: fits, each on the routed model of the one before
 * routed: mlp                    # mlp (dense layers outside attention), all, or a regular expression of module paths
 * lambda: 0.3                    # task arithmetic for the weights outside routed layers (and constant routers)
 * static_model: ties.onnx        # or: those weights from this merge of the same graph
 * </pre>
 *
 * @param file the recipe file
 * @param moe  the routed merge it describes, ready to run
 */
public record MoeRecipe(Path file, WeightEnsemblingMoe moe) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "base_model", "models", "router", "router_file",
            "router_scale", "router_ridge", "passes", "routed", "lambda", "static_model");
    private static final Set<String> MODEL = Set.of("model", "calibration", "tokenizer", "input", "samples");
    private static final Set<String> ROUTERS = Set.of("fitted", "prototypes", "constant", "file");

    /** {@code merge_method: wemoe}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("wemoe");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            recipe.keys(root, TOP, "");
            if (!root.has("base_model")) {
                throw recipe.error("merge_method wemoe needs 'base_model': the model the experts were fine-tuned from");
            }
            Path base = recipe.path(root, "base_model");
            String router = root.has("router") ? recipe.text(root, "router") : "fitted";
            if (!ROUTERS.contains(router)) {
                throw recipe.error("'router' must be one of " + ROUTERS + ", got '" + router + "'");
            }
            if (router.equals("file") != root.has("router_file")) {
                throw recipe.error(router.equals("file") ? "router: file needs 'router_file': a folder of .npy routers"
                        : "'router_file' goes with router: file");
            }
            JsonNode models = root.get("models");
            if (models == null || !models.isArray() || models.isEmpty()) {
                throw recipe.error("merge_method wemoe needs 'models': a list of {model, calibration}");
            }
            boolean fitted = router.equals("fitted") || router.equals("prototypes");
            List<Path> experts = new ArrayList<>();
            List<Calibration> data = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                JsonNode entry = models.get(i);
                String where = "models[" + i + "]";
                if (!entry.isObject()) {
                    throw recipe.error(where + " must be a mapping with 'model' (and 'calibration' for router " + router
                            + ")");
                }
                recipe.keys(entry, MODEL, where);
                Path model = recipe.path(entry, "model");
                experts.add(model);
                CalibrationSpec spec = recipe.calibration(entry, 128);
                if (fitted && spec == null) {
                    throw recipe.error(where + " needs 'calibration' (this expert's task samples) for router " + router
                            + "; or use router: constant or file");
                }
                if (fitted) {
                    data.add(spec.load(model));
                }
            }
            try {
                RouterSource source = switch (router) {
                    case "fitted" -> RouterSource.fitted(data)
                            .ridge(recipe.number(root, "router_ridge", RouterFit.RIDGE));
                    case "prototypes" -> RouterSource.prototypes(data);
                    case "file" -> RouterSource.file(recipe.path(root, "router_file"));
                    default -> RouterSource.constant();
                };
                if (root.has("router_scale")) {
                    source = source.scale(recipe.number(root, "router_scale", 1));
                }
                WeightEnsemblingMoe moe = WeightEnsemblingMoe.of(base, experts).routers(source)
                        .lambda(recipe.number(root, "lambda", 0.3)).passes(recipe.integer(root, "passes", 2));
                if (root.has("routed")) {
                    moe.routed(recipe.text(root, "routed"));
                }
                if (root.has("static_model")) {
                    moe.staticMerge(recipe.path(root, "static_model"));
                }
                return new MoeRecipe(recipe.file(), moe);
            } catch (InvalidSettingException e) {
                throw recipe.error("wemoe: " + e.getMessage());
            }
        }
    }

    /** Writes the routed model; returns its report. */
    @Override
    public WeightEnsemblingMoe.Report run(Path output, Execution execution) {
        return moe.execution(execution).writeTo(output);
    }
}
