package dev.graft.regmean;

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
 * A RegMean recipe ({@link RegMean}): the models, each with its own task data.
 * <pre>
 * merge_method: regmean
 * models:                           # the result has the first model's graph
 *   - model: task_a.onnx
 *     calibration: task_a.npy       # each model's own data: a .npy array (input: default the model's first)
 *   - model: task_b.onnx
 *     calibration: task_b.txt       #   or text with a tokenizer (samples: lines used, default 256)
 *     tokenizer: tokenizer.json
 * alpha: 0.95                       # scale of the Grams' off-diagonal entries, (0, 1]
 * inputs: own                       # own (RegMean) or merged (RegMean++: Grams of the merged model's inputs)
 * </pre>
 *
 * @param file    the recipe file
 * @param regMean the merge it describes, ready to run
 */
public record RegMeanRecipe(Path file, RegMean regMean) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "models", "alpha", "inputs");
    private static final Set<String> MODEL = Set.of("model", "calibration", "tokenizer", "input", "samples");

    /** {@code merge_method: regmean}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("regmean");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            recipe.keys(root, TOP, "");
            String inputs = root.has("inputs") ? recipe.text(root, "inputs") : "own";
            if (!inputs.equals("own") && !inputs.equals("merged")) {
                throw recipe.error("'inputs' must be own (RegMean) or merged (RegMean++), got '" + inputs + "'");
            }
            double alpha = recipe.number(root, "alpha", 0.95);
            if (!(alpha > 0 && alpha <= 1)) {
                throw recipe.error("regmean: alpha must be in (0, 1], got " + alpha);
            }
            JsonNode models = root.get("models");
            if (models == null || !models.isArray() || models.isEmpty()) {
                throw recipe.error("merge_method regmean needs 'models': a list of {model, calibration}");
            }
            List<Path> paths = new ArrayList<>();
            List<Calibration> data = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                JsonNode entry = models.get(i);
                String where = "models[" + i + "]";
                if (!entry.isObject()) {
                    throw recipe.error(where + " must be a mapping with 'model' and 'calibration' (RegMean needs each "
                            + "model's own data)");
                }
                recipe.keys(entry, MODEL, where);
                Path model = recipe.path(entry, "model");
                CalibrationSpec spec = recipe.calibration(entry, 256);
                if (spec == null) {
                    throw recipe.error(where + " needs 'calibration': the model's own task data (a .npy array, or "
                            + "text with 'tokenizer')");
                }
                paths.add(model);
                data.add(spec.load(model));
            }
            try {
                return new RegMeanRecipe(recipe.file(), RegMean.merge(paths).calibration(data).alpha(alpha)
                        .mergedInputs(inputs.equals("merged")));
            } catch (InvalidSettingException e) {
                throw recipe.error("regmean: " + e.getMessage());
            }
        }
    }

    /** Runs the merge under {@code execution}; returns its report. */
    @Override
    public RegMean.Report run(Path output, Execution execution) {
        return regMean.writeTo(output, execution);
    }
}
