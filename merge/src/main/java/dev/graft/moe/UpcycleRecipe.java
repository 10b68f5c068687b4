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
 * An upcycled mixture-of-experts recipe ({@link Upcycle}), run by {@code graft merge}; the keys follow
 * mergekit-moe's where they can:
 * <pre>
 * merge_method: upcycle
 * base_model: base.onnx            # attention, norms and embeddings
 * models:                          # the experts: each one's MLPs come from this fine-tune
 *   - model: python.onnx
 *     calibration: python.txt      # its prompts (all gate modes but random): text with a tokenizer
 *     tokenizer: tokenizer.json    #   (samples: lines used, default 128), or a .npy array
 *     negative: not_python.txt     # optional: prompts its gate should not favour (hidden, cheap_embed)
 *   - model: c.onnx
 *     calibration: c.txt
 *     tokenizer: tokenizer.json
 * gate_mode: fitted                # fitted (default), hidden, cheap_embed or random
 * seed: 0                          # random gates
 * experts_per_token: 2             # k (default 2, or 1 with one model)
 * form: standard                   # standard ONNX ops, or contrib (com.microsoft.MoE)
 * </pre>
 *
 * @param file     the recipe file
 * @param upcycle  the mixture it describes, ready to write
 */
public record UpcycleRecipe(Path file, Upcycle upcycle) implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "base_model", "models", "gate_mode", "seed",
            "experts_per_token", "form");
    private static final Set<String> MODEL = Set.of("model", "calibration", "tokenizer", "input", "samples",
            "negative");

    /** {@code merge_method: upcycle}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.of("upcycle");
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            JsonNode root = recipe.root();
            recipe.keys(root, TOP, "");
            if (!root.has("base_model")) {
                throw recipe.error("merge_method upcycle needs 'base_model': the model whose attention the experts "
                        + "share");
            }
            Path base = recipe.path(root, "base_model");
            String mode = root.has("gate_mode") ? recipe.text(root, "gate_mode") : "fitted";
            if (!Set.of("fitted", "hidden", "cheap_embed", "random").contains(mode)) {
                throw recipe.error("'gate_mode' must be fitted, hidden, cheap_embed or random, got '" + mode + "'");
            }
            JsonNode models = root.get("models");
            if (models == null || !models.isArray() || models.isEmpty()) {
                throw recipe.error("merge_method upcycle needs 'models': a list of {model, calibration}");
            }
            List<Path> experts = new ArrayList<>();
            List<Calibration> prompts = new ArrayList<>();
            List<Calibration> negative = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                JsonNode entry = models.get(i);
                String where = "models[" + i + "]";
                if (!entry.isObject()) {
                    throw recipe.error(where + " must be a mapping with 'model' (and 'calibration', its prompts)");
                }
                recipe.keys(entry, MODEL, where);
                Path model = recipe.path(entry, "model");
                experts.add(model);
                CalibrationSpec spec = recipe.calibration(entry, 128);
                if (mode.equals("random")) {
                    if (spec != null || entry.has("negative")) {
                        throw recipe.error(where + ": prompts go with gate_mode fitted, hidden or cheap_embed, not random");
                    }
                    continue;
                }
                if (spec == null) {
                    throw recipe.error(where + " needs 'calibration' (this expert's prompts) for gate_mode " + mode
                            + "; or use gate_mode: random");
                }
                prompts.add(spec.load(model));
                if (entry.has("negative")) {
                    if (mode.equals("fitted")) {
                        throw recipe.error(where + ": 'negative' goes with gate_mode hidden or cheap_embed");
                    }
                    negative.add(new CalibrationSpec(recipe.path(entry, "negative"), spec.tokenizer(), spec.input(),
                            spec.samples()).load(model));
                }
            }
            if (!negative.isEmpty() && negative.size() != experts.size()) {
                throw recipe.error("'negative' prompts are given for " + negative.size() + " of " + experts.size()
                        + " models; give them for every model or none");
            }
            try {
                GateSource gates = switch (mode) {
                    case "fitted" -> GateSource.fitted(prompts);
            case "hidden" -> GateSource.hidden(prompts, negative);
                    case "cheap_embed" -> GateSource.cheapEmbed(prompts, negative);
                    default -> GateSource.random(recipe.integer(root, "seed", 0));
                };
                String form = root.has("form") ? recipe.text(root, "form") : "standard";
                if (!form.equals("standard") && !form.equals("contrib")) {
                    throw recipe.error("'form' must be standard or contrib, got '" + form + "'");
                }
                return new UpcycleRecipe(recipe.file(), Upcycle.of(base, experts).gates(gates)
                        .expertsPerToken(recipe.integer(root, "experts_per_token", Math.min(2, experts.size())))
                        .form(form.equals("contrib") ? Upcycle.Form.CONTRIB : Upcycle.Form.STANDARD));
            } catch (InvalidSettingException e) {
                throw recipe.error("upcycle: " + e.getMessage());
            }
        }
    }

    /** Writes the mixture; returns its report. */
    @Override
    public Upcycle.Report run(Path output, Execution execution) {
        return upcycle.execution(execution).writeTo(output);
    }
}
