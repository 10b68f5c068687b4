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
 * A routed-merge recipe ({@link RoutedMerge}), run by {@code graft merge}; {@code mediator} starts from the Mediator
 * preset ({@link RoutedMerge#mediator}) and takes the same keys:
 * <pre>
 * merge_method: wemoe            # or mediator
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
 * reference: base                # the experts' updates from the base (wemoe) or from the static merge (mediator)
 * density: 1.0                   # share of each update kept (largest), stored sparse below 1 (mediator: 0.3)
 * routed_share: 1.0              # share of layer groups routed, most conflicting first (both: 1)
 * task_level: false              # one router for all routed layers (mediator: true)
 * confidence: 0                  # a sample whose top posterior reaches it takes that expert alone (mediator: 0.9)
 * </pre>
 *
 * @param file the recipe file
 * @param moe  the routed merge it describes, ready to run
 */
public record MoeRecipe(Path file, RoutedMerge moe) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "base_model", "models", "router", "router_file",
            "router_scale", "router_ridge", "passes", "routed", "lambda", "static_model", "reference", "density",
            "routed_share", "task_level", "confidence");
    private static final Set<String> MODEL = Set.of("model", "calibration", "tokenizer", "input", "samples");
    private static final Set<String> ROUTERS = Set.of("fitted", "prototypes", "constant", "file");

    /** {@code merge_method: wemoe} or {@code mediator}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("wemoe", "mediator");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            recipe.keys(root, TOP, "");
            String method = recipe.text(root, "merge_method");
            if (!root.has("base_model")) {
                throw recipe.error("merge_method " + method + " needs 'base_model': the model the experts were "
                        + "fine-tuned from");
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
                throw recipe.error("merge_method " + method + " needs 'models': a list of {model, calibration}");
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
                RoutedMerge moe = (method.equals("mediator") ? RoutedMerge.mediator(base, experts)
                        : RoutedMerge.wemoe(base, experts)).routers(source).passes(recipe.integer(root, "passes", 2));
                if (root.has("lambda")) {
                    moe.lambda(recipe.number(root, "lambda", 0));
                }
                if (root.has("routed")) {
                    moe.routed(recipe.text(root, "routed"));
                }
                if (root.has("static_model")) {
                    moe.staticMerge(recipe.path(root, "static_model"));
                }
                if (root.has("reference")) {
                    String reference = recipe.text(root, "reference");
                    if (!reference.equals("base") && !reference.equals("static")) {
                        throw recipe.error("'reference' must be base or static, got '" + reference + "'");
                    }
                    moe.reference(reference.equals("base") ? RoutedMerge.Reference.BASE : RoutedMerge.Reference.STATIC);
                }
                if (root.has("density")) {
                    moe.density(recipe.number(root, "density", 1));
                }
                if (root.has("routed_share")) {
                    moe.routedShare(recipe.number(root, "routed_share", 1));
                }
                if (root.has("confidence")) {
                    moe.confidence(recipe.number(root, "confidence", 0));
                }
                if (root.has("task_level")) {
                    JsonNode level = root.get("task_level");
                    if (!level.isBoolean()) {
                        throw recipe.error("'task_level' must be true or false, got " + level);
                    }
                    moe.taskLevel(level.asBoolean());
                }
                return new MoeRecipe(recipe.file(), moe);
            } catch (InvalidSettingException e) {
                throw recipe.error(method + ": " + e.getMessage());
            }
        }
    }

    /** Writes the routed model; returns its report. */
    @Override
    public RoutedMerge.Report run(Path output, Execution execution) {
        return moe.execution(execution).writeTo(output);
    }
}
