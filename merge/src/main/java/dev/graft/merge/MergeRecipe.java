package dev.graft.merge;

import com.fasterxml.jackson.databind.JsonNode;
import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.InvalidSettingException;
import dev.graft.RecipeException;
import dev.graft.align.Alignment;
import dev.graft.exec.Execution;
import dev.graft.plan.MergeReport;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.RecipeKind;
import dev.graft.recipe.Recipes;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.Setting;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A merge recipe in the shape of a mergekit config, with ONNX files as models:
 * <pre>
 * merge_method: ties                # any name of {@link MergeMethods}
 * base_model: base.onnx             # if the method needs one
 * models:
 *   - model: math.onnx
 *     parameters: {weight: 1.0, density: [0.3, 0.7]}           # a gradient over layer depth
 *   - model: code.onnx
 *     parameters:
 *       weight: [{filter: attention, value: 0.5}, {value: 1.0}] # first matching filter wins
 * parameters: {normalize: true, lambda: 1.0}                   # global parameters
 * dtype: float16                    # storage type of merged weights (out_dtype is accepted too)
 * convention: mergekit              # Graft: mergekit (default) or paper
 * seed: 0                           # Graft: seed of DARE and DELLA
 * align:                            # Graft: align every model to the base (else the first model) first
 *   method: weight                  # weight matching (Git Re-Basin), or activation with
 *   calibration: data.npy           #   calibration data: a .npy array (input: its model input name, default x)
 *   tokenizer: tokenizer.json       #   or a text file with a Hugging Face tokenizer (samples: lines used)
 *   seed: 0                         # order in which groups are visited
 *   max_passes: 100
 *   permute_outputs: false          # let the residual stream align too (reorders output coordinates)
 * </pre>
 * PLeaS merges ({@code merge_method: pleas}) are {@link dev.graft.pleas.PleasRecipe}s; LoRA recipes live in
 * {@code graft-adapters}. Read any of them with {@link Recipes#read}.
 * Paths are relative to the recipe's folder. Unknown keys, and mergekit keys Graft cannot honour
 * ({@code slices}, {@code tokenizer_source}, ...), are errors naming the key. Booleans read as 1 and 0.
 */
public final class MergeRecipe implements Recipe {
    private static final Set<String> TOP = Set.of("merge_method", "base_model", "models", "parameters", "dtype",
            "out_dtype", "convention", "seed", "align");
    private static final Set<String> ALIGN = Set.of("method", "seed", "max_passes", "permute_outputs",
            "keep_key_biases", "calibration", "tokenizer", "input", "samples");
    private static final Set<String> MERGEKIT_ONLY = Set.of("slices", "modules", "tokenizer_source", "tokenizer",
            "chat_template", "input_model_parameters");

    private final Path file;
    private final MergeMethod method;
    private final Convention convention;
    private final MergeBuilder builder;

    private MergeRecipe(Path file, MergeMethod method, Convention convention, MergeBuilder builder) {
        this.file = file;
        this.method = method;
        this.convention = convention;
        this.builder = builder;
    }

    /** Tensor-wise merges: every name of {@link MergeMethods}. */
    public static final class Kind implements RecipeKind {
        @Override
        public Set<String> names() {
            return Set.copyOf(MergeMethods.names());
        }

        @Override
        public Recipe parse(RecipeFile recipe) {
            return MergeRecipe.parse(recipe);
        }
    }

    /** Checks a recipe; returns it with a builder set up from it, ready for {@code writeTo}. */
    static MergeRecipe parse(RecipeFile recipe) {
        Path file = recipe.file();
        JsonNode root = recipe.root();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (MERGEKIT_ONLY.contains(key)) {
                throw new RecipeException(file, "key '" + key + "' is a mergekit option Graft does not support (ONNX"
                        + " models are merged whole, with no tokenizer); remove it");
            }
            if (!TOP.contains(key)) {
                throw new RecipeException(file, "unknown key '" + key + "' (known: " + new java.util.TreeSet<>(TOP) + ")");
            }
        }
        Path folder = file.toAbsolutePath().getParent();
        Convention convention = root.has("convention") ? convention(file, root.get("convention")) : Convention.MERGEKIT;
        String methodName = text(file, root, "merge_method");
        MergeMethod method;
        try {
            method = MergeMethods.create(methodName, convention);
        } catch (InvalidSettingException e) {
            throw new RecipeException(file, "merge_method: " + e.getMessage());
        }
        MergeBuilder b = Graft.merge().method(method);
        if (root.has("base_model")) {
            b.base(folder.resolve(text(file, root, "base_model")));
        }
        JsonNode models = root.get("models");
        if (models == null || !models.isArray() || models.isEmpty()) {
            throw new RecipeException(file, "'models' must be a non-empty list of {model, parameters}");
        }
        for (int i = 0; i < models.size(); i++) {
            JsonNode entry = models.get(i);
            String where = "models[" + i + "]";
            if (entry.isTextual()) {
                b.model(folder.resolve(entry.asText()), Map.of());
                continue;
            }
            if (!entry.isObject() || !entry.has("model")) {
                throw new RecipeException(file, where + " must have a 'model' path");
            }
            for (Iterator<String> it = entry.fieldNames(); it.hasNext(); ) {
                String key = it.next();
                if (!key.equals("model") && !key.equals("parameters")) {
                    throw new RecipeException(file, "unknown key '" + key + "' in " + where + " (known: model, parameters)");
                }
            }
            b.model(folder.resolve(text(file, entry, "model")), settings(file, entry.get("parameters"), where));
        }
        settings(file, root.get("parameters"), "parameters").forEach(b::parameter);
        String dtype = root.has("out_dtype") ? text(file, root, "out_dtype") : root.has("dtype") ? text(file, root, "dtype")
                : null;
        if (dtype != null) {
            try {
                b.outputType(ElementType.parseFloatType(dtype));
            } catch (InvalidSettingException e) {
                throw new RecipeException(file, "dtype: " + e.getMessage());
            }
        }
        if (root.has("seed")) {
            if (!root.get("seed").canConvertToLong()) {
                throw new RecipeException(file, "'seed' must be an integer");
            }
            b.seed(root.get("seed").asLong());
        }
        if (root.has("align")) {
            Path reference = root.has("base_model") ? folder.resolve(text(file, root, "base_model"))
                    : folder.resolve(models.get(0).isTextual() ? models.get(0).asText() : text(file, models.get(0), "model"));
            b.align(alignment(recipe, root.get("align"), reference));
        }
        try {
            b.validate();
        } catch (InvalidSettingException e) {
            throw new RecipeException(file, e.getMessage());
        }
        return new MergeRecipe(file, method, convention, b);
    }

    private static Alignment alignment(RecipeFile recipe, JsonNode node, Path reference) {
        Path file = recipe.file();
        if (!node.isObject()) {
            throw new RecipeException(file, "'align' must be a mapping (method, seed, max_passes, permute_outputs)");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!ALIGN.contains(key)) {
                throw new RecipeException(file, "unknown key '" + key + "' in align (known: " + new java.util.TreeSet<>(ALIGN)
                        + ")");
            }
        }
        String method = node.has("method") ? node.get("method").asText() : "weight";
        Alignment a;
        if (method.equals("weight")) {
            a = Alignment.weightMatching();
        } else if (method.equals("activation")) {
            if (!node.has("calibration")) {
                throw new RecipeException(file, "align.method activation needs align.calibration (a .npy array, or a "
                        + "text file with align.tokenizer)");
            }
            a = Alignment.activationMatching(recipe.calibration(node, 512).load(reference));
        } else {
            throw new RecipeException(file, "align.method '" + method + "' is not known (known: weight, activation)");
        }
        if (node.has("seed")) {
            if (!node.get("seed").canConvertToLong()) {
                throw new RecipeException(file, "'align.seed' must be an integer");
            }
            a.seed(node.get("seed").asLong());
        }
        if (node.has("max_passes")) {
            if (!node.get("max_passes").canConvertToInt() || node.get("max_passes").asInt() < 1) {
                throw new RecipeException(file, "'align.max_passes' must be a positive integer");
            }
            a.maxPasses(node.get("max_passes").asInt());
        }
        a.permuteOutputs(flag(file, node, "permute_outputs"));
        a.keepKeyBiases(flag(file, node, "keep_key_biases"));
        return a;
    }

    /** {@code align.key}: true or false, false when absent. */
    private static boolean flag(Path file, JsonNode node, String key) {
        JsonNode v = node.get(key);
        if (v != null && !v.isBoolean()) {
            throw new RecipeException(file, "'align." + key + "' must be true or false, got " + v);
        }
        return v != null && v.asBoolean();
    }

    private static Convention convention(Path file, JsonNode node) {
        try {
            return Convention.parse(node.asText());
        } catch (InvalidSettingException e) {
            throw new RecipeException(file, "convention: " + e.getMessage());
        }
    }

    private static String text(Path file, JsonNode parent, String key) {
        JsonNode n = parent.get(key);
        if (n == null || !n.isValueNode() || n.asText().isEmpty()) {
            throw new RecipeException(file, "'" + key + "' must be given as text");
        }
        return n.asText();
    }

    private static Map<String, Setting> settings(Path file, JsonNode params, String where) {
        Map<String, Setting> out = new LinkedHashMap<>();
        if (params == null || params.isNull()) {
            return out;
        }
        if (!params.isObject()) {
            throw new RecipeException(file, where + ".parameters must be a mapping of name to value");
        }
        for (Map.Entry<String, JsonNode> e : params.properties()) {
            out.put(e.getKey(), setting(file, e.getValue(), where + ".parameters." + e.getKey()));
        }
        return out;
    }

    private static Setting setting(Path file, JsonNode v, String where) {
        if (v.isNumber()) {
            return Setting.of(v.asDouble());
        }
        if (v.isBoolean()) {
            return Setting.of(v.asBoolean() ? 1 : 0);
        }
        if (v.isArray() && !v.isEmpty()) {
            if (allNumbers(v)) {
                List<Double> values = new ArrayList<>();
                v.forEach(x -> values.add(x.asDouble()));
                return Setting.gradient(values);
            }
            List<Setting.Condition> conditions = new ArrayList<>();
            for (JsonNode c : v) {
                if (!c.isObject() || !c.has("value")) {
                    throw new RecipeException(file, where + ": each entry of a list of conditions needs a 'value'");
                }
                for (Iterator<String> it = c.fieldNames(); it.hasNext(); ) {
                    String key = it.next();
                    if (!key.equals("filter") && !key.equals("value")) {
                        throw new RecipeException(file, "unknown key '" + key + "' in " + where + " (known: filter, value)");
                    }
                }
                String filter = c.has("filter") && !c.get("filter").isNull() ? c.get("filter").asText() : null;
                conditions.add(new Setting.Condition(filter, setting(file, c.get("value"), where)));
            }
            return Setting.conditional(conditions);
        }
        throw new RecipeException(file, where + ": expected a number, a boolean, a list of numbers (gradient) or a list"
                + " of {filter, value}, got " + v);
    }

    private static boolean allNumbers(JsonNode array) {
        for (JsonNode x : array) {
            if (!x.isNumber()) {
                return false;
            }
        }
        return true;
    }

    /** The recipe file. */
    @Override
    public Path file() {
        return file;
    }

    public MergeMethod method() {
        return method;
    }

    public Convention convention() {
        return convention;
    }

    /** The merge the recipe describes; further options (threads, layout, progress) may be set on it. */
    public MergeBuilder builder() {
        return builder;
    }

    /** Runs the merge with {@code execution}'s threads, memory budget and progress; returns its report. */
    @Override
    public MergeReport run(Path output, Execution execution) {
        return builder.threads(execution.threads()).memoryBudget(execution.memoryBudget())
                .progress(execution.progress()).writeTo(output);
    }
}
