package dev.graft.pleas;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.InvalidSettingException;
import dev.graft.exec.Execution;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.RecipeKind;
import java.nio.file.Path;
import java.util.Set;

/**
 * A PLeaS merge recipe ({@link Pleas}): two models and a {@code pleas} section.
 * <pre>
 * merge_method: pleas
 * models: [a.onnx, b.onnx]          # the result has a.onnx's graph
 * pleas:
 *   calibration: sentences.txt      # required: a .npy array (input: default the model's first) or text with
 *   tokenizer: tokenizer.json       #   a tokenizer (samples: lines used)
 *   samples: 2000
 *   width: 1.5                      # groups that may widen, 1.0 to 2.0
 *   group_widths: {"encoder.layer.11/1536": 2.0}
 *   spread: uniform                 # or least-similar
 *   fit: auto                       # (shared start: resizable, else all), all, resizable, none
 *   fit_inputs: originals           # or merged: the merged model's own inputs, layer by layer
 *   matching: auto                  # (shared start: identity, else activations), activations, weights, identity
 *   keep_last: 0                    # layers kept per model (own heads)
 *   ridge: 0.001
 * </pre>
 *
 * @param file  the recipe file
 * @param pleas the merge it describes, ready to run
 */
public record PleasRecipe(Path file, Pleas pleas) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "models", "pleas");
    private static final Set<String> SECTION = Set.of("calibration", "tokenizer", "input", "samples", "width",
            "group_widths", "spread", "fit", "fit_inputs", "keep_last", "ridge", "matching");

    /** {@code merge_method: pleas}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("pleas");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            return PleasRecipe.parse(recipe);
        }
    }

    static PleasRecipe parse(RecipeFile recipe) {
        JsonNode root = recipe.root();
        recipe.keys(root, TOP, "");
        JsonNode models = root.get("models");
        if (models == null || !models.isArray() || models.size() != 2) {
            throw recipe.error("merge_method pleas needs 'models' with exactly two models");
        }
        Path[] paths = new Path[2];
        for (int i = 0; i < 2; i++) {
            JsonNode entry = models.get(i);
            paths[i] = entry.isTextual() ? recipe.folder().resolve(entry.asText()) : recipe.path(entry, "model");
        }
        JsonNode node = root.get("pleas");
        if (node == null || !node.isObject()) {
            throw recipe.error("merge_method pleas needs a 'pleas' mapping with at least calibration");
        }
        recipe.keys(node, SECTION, "pleas");
        if (!node.has("calibration")) {
            throw recipe.error("pleas needs pleas.calibration (a .npy array, or a text file with pleas.tokenizer)");
        }
        try {
            Pleas p = Pleas.merge(paths[0], paths[1]).calibration(recipe.calibration(node, 2000).load(paths[0]))
                    .width(recipe.number(node, "width", 1.0))
                    .spread(Pleas.Spread.of(node.path("spread").asText("uniform")))
                    .fit(Pleas.Fit.of(node.path("fit").asText("auto")))
                    .fitInputs(Pleas.FitInputs.of(node.path("fit_inputs").asText("originals")))
                    .matching(Pleas.Matching.of(node.path("matching").asText("auto")))
                    .keepLast(recipe.integer(node, "keep_last", 0))
                    .ridge(recipe.number(node, "ridge", 1e-3));
            if (node.has("group_widths")) {
                if (!node.get("group_widths").isObject()) {
                    throw recipe.error("pleas.group_widths must be a mapping of group name to width");
                }
                node.get("group_widths").properties().forEach(e -> p.width(e.getKey(), e.getValue().asDouble()));
            }
            return new PleasRecipe(recipe.file(), p);
        } catch (InvalidSettingException e) {
            throw recipe.error("pleas: " + e.getMessage());
        }
    }

    /** Runs the merge under {@code execution} (budget, progress); returns its report. */
    @Override
    public Pleas.Report run(Path output, Execution execution) {
        return pleas.writeTo(output, execution);
    }
}
