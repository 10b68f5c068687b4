package dev.graft.align;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.InvalidSettingException;
import dev.graft.data.CalibrationSpec;
import dev.graft.exec.Execution;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.RecipeKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A fusion recipe, run by {@code graft merge}: {@code ot_fusion} ({@link OtFusion}) or {@code cla_fusion}
 * ({@link ClaFusion}) of two models.
 * <pre>
 * merge_method: ot_fusion          # or cla_fusion (different depths; needs calibration)
 * models:
 *   - model: mlp_w32.onnx
 *   - model: mlp_w128.onnx         # the target of ot_fusion unless into: a
 * into: b                          # ot_fusion: whose widths the result has
 * depth: deeper                    # cla_fusion of residual networks: or shallower
 * unaligned: merge                 # depth shallower: the deeper model's unaligned layers merged, or drop
 * permute_outputs: false           # true for encoders whose output is the residual stream (embeddings)
 * layers: [1, 3, 5]               # cla_fusion of residual networks: an alignment instead of CKA's
 * layer_cost: cka                  # cla_fusion of residual networks: or weights (transport cost, no data)
 * solver: exact                    # or sinkhorn, or none (the naive average, a baseline)
 * distance: euclidean              # or cosine
 * marginals: uniform               # ot_fusion: or activations (mean absolute activation; calibration)
 * regularization: 0.01             # sinkhorn's, relative to the largest cost
 * weight: 0.5                      # the target's share
 * cost: weights                    # or activations (with calibration)
 * calibration: calibration.npy     # with the calibration keys (tokenizer, input, samples)
 * </pre>
 *
 * @param file   the recipe file
 * @param fusion writes the fused model and returns its report
 */
public record FusionRecipe(Path file, java.util.function.Function<Path, Object> fusion) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "models", "into", "depth", "unaligned", "layers", "layer_cost",
            "permute_outputs", "solver", "regularization", "weight", "cost", "distance", "marginals", "calibration",
            "tokenizer", "input", "samples");

    /** {@code merge_method: ot_fusion} or {@code cla_fusion}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("ot_fusion", "cla_fusion");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            recipe.keys(root, TOP, "");
            String method = recipe.text(root, "merge_method");
            JsonNode models = root.get("models");
            if (models == null || !models.isArray() || models.size() != 2) {
                throw recipe.error(method + " needs 'models': a list of two {model: FILE}");
            }
            for (int i = 0; i < 2; i++) {
                if (!models.get(i).isObject()) {
                    throw recipe.error("models[" + i + "] must be a mapping with 'model'");
                }
                recipe.keys(models.get(i), Set.of("model"), "models[" + i + "]");
            }
            Path a = recipe.path(models.get(0), "model");
            Path b = recipe.path(models.get(1), "model");
            String solverName = root.has("solver") ? recipe.text(root, "solver") : "exact";
            OtFusion.Solver solver = switch (solverName) {
                case "exact" -> OtFusion.Solver.EXACT;
                case "sinkhorn" -> OtFusion.Solver.SINKHORN;
                case "none" -> OtFusion.Solver.NONE;
                default -> throw recipe.error("'solver' must be exact, sinkhorn or none, got '" + solverName + "'");
            };
            boolean permuteOutputs = recipe.bool(root, "permute_outputs", false);
            String distanceName = root.has("distance") ? recipe.text(root, "distance") : "euclidean";
            if (!distanceName.equals("euclidean") && !distanceName.equals("cosine")) {
                throw recipe.error("'distance' must be euclidean or cosine, got '" + distanceName + "'");
            }
            OtFusion.Distance distance = distanceName.equals("cosine") ? OtFusion.Distance.COSINE
                    : OtFusion.Distance.EUCLIDEAN;
            String marginals = root.has("marginals") ? recipe.text(root, "marginals") : "uniform";
            if (!marginals.equals("uniform") && !marginals.equals("activations")) {
                throw recipe.error("'marginals' must be uniform or activations, got '" + marginals + "'");
            }
            CalibrationSpec spec = recipe.calibration(root, 256);
            double weight = recipe.number(root, "weight", 0.5);
            try {
                if (method.equals("cla_fusion")) {
                    String layerCost = root.has("layer_cost") ? recipe.text(root, "layer_cost") : "cka";
                    if (spec == null && layerCost.equals("cka")) {
                        throw recipe.error("cla_fusion needs 'calibration': the data the layers are aligned on (or "
                                + "layer_cost: weights)");
                    }
                    for (String key : new String[] {"into", "regularization", "marginals"}) {
                        if (root.has(key)) {
                            throw recipe.error("'" + key + "' goes with ot_fusion");
                        }
                    }
                    String depth = root.has("depth") ? recipe.text(root, "depth") : "deeper";
                    if (!depth.equals("deeper") && !depth.equals("shallower")) {
                        throw recipe.error("'depth' must be deeper or shallower, got '" + depth + "'");
                    }
                    ClaFusion cla = ClaFusion.of(a, b, spec == null ? null : spec.load(a)).solver(solver).weight(weight).distance(distance)
                            .permuteOutputs(permuteOutputs).depth(depth.equals("deeper") ? ClaFusion.Depth.DEEPER
                                    : ClaFusion.Depth.SHALLOWER);
                    if (!layerCost.equals("cka") && !layerCost.equals("weights")) {
                        throw recipe.error("'layer_cost' must be cka or weights, got '" + layerCost + "'");
                    }
                    cla.layerCost(layerCost.equals("cka") ? ClaFusion.LayerCost.CKA : ClaFusion.LayerCost.WEIGHTS);
                    String claCost = root.has("cost") ? recipe.text(root, "cost") : "weights";
                    if (!claCost.equals("weights") && !claCost.equals("activations")) {
                        throw recipe.error("'cost' must be weights or activations, got '" + claCost + "'");
                    }
                    cla.activationCost(claCost.equals("activations"));
                    if (root.has("unaligned")) {
                        String unaligned = recipe.text(root, "unaligned");
                        if (!depth.equals("shallower") || !unaligned.equals("merge") && !unaligned.equals("drop")) {
                            throw recipe.error("'unaligned' takes merge or drop, with depth: shallower");
                        }
                        cla.mergeLayers(unaligned.equals("merge"));
                    }
                    if (root.has("layers")) {
                        JsonNode layers = root.get("layers");
                        List<Integer> alignment = new java.util.ArrayList<>();
                        for (int k = 0; layers.isArray() && k < layers.size(); k++) {
                            if (!layers.get(k).isIntegralNumber()) {
                                throw recipe.error("'layers' must be a list of layer numbers, got " + layers);
                            }
                            alignment.add(layers.get(k).asInt());
                        }
                        if (!layers.isArray()) {
                            throw recipe.error("'layers' must be a list of layer numbers, got " + layers);
                        }
                        cla.layers(alignment);
                    }
                    return new FusionRecipe(recipe.file(), cla::writeTo);
                }
                for (String key : new String[] {"depth", "unaligned", "layers", "layer_cost"}) {
                    if (root.has(key)) {
                        throw recipe.error("'" + key + "' goes with cla_fusion");
                    }
                }
                OtFusion ot = OtFusion.of(a, b).solver(solver).weight(weight).permuteOutputs(permuteOutputs)
                        .distance(distance);
                String into = root.has("into") ? recipe.text(root, "into") : "b";
                if (!into.equals("a") && !into.equals("b")) {
                    throw recipe.error("'into' must be a or b, got '" + into + "'");
                }
                if (into.equals("a")) {
                    ot.intoA();
                }
                if (root.has("regularization")) {
                    ot.regularization(recipe.number(root, "regularization", 0.01));
                }
                String cost = root.has("cost") ? recipe.text(root, "cost") : "weights";
                if (!cost.equals("weights") && !cost.equals("activations")) {
                    throw recipe.error("'cost' must be weights or activations, got '" + cost + "'");
                }
                boolean data = cost.equals("activations") || marginals.equals("activations");
                if (data != (spec != null)) {
                    throw recipe.error(spec == null ? "cost: activations and marginals: activations need "
                            + "'calibration'" : "'calibration' goes with cost: activations, marginals: activations "
                            + "(or cla_fusion)");
                }
                if (spec != null) {
                    dev.graft.data.Calibration loaded = spec.load(a);
                    if (cost.equals("activations")) {
                        ot.activations(loaded);
                    }
                    if (marginals.equals("activations")) {
                        ot.activationMass(loaded);
                    }
                }
                return new FusionRecipe(recipe.file(), ot::writeTo);
            } catch (InvalidSettingException e) {
                throw recipe.error(method + ": " + e.getMessage());
            }
        }
    }

    /** Writes the fused model; returns its report. */
    @Override
    public Object run(Path output, Execution execution) {
        return fusion.apply(output);
    }
}
