package dev.graft.merge;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.RecipeException;
import dev.graft.data.Calibration;
import dev.graft.plan.MergeMethod;
import dev.graft.pleas.Pleas;
import dev.graft.plan.Setting;
import dev.graft.tensor.ElementType;
import java.io.IOException;
import java.nio.file.Files;
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
 * A PLeaS merge ({@link Pleas}) of two models has its own section instead of {@code base_model},
 * {@code parameters}, {@code dtype} and {@code align}:
 * <pre>
 * merge_method: pleas
 * models: [a.onnx, b.onnx]          # the result has a.onnx's graph
 * pleas:
 *   calibration: sentences.txt      # required: a .npy array (input, default x) or text with tokenizer (samples)
 *   tokenizer: tokenizer.json
 *   samples: 2000
 *   width: 1.5                      # groups that may widen, 1.0 to 2.0
 *   group_widths: {"encoder.layer.11/1536": 2.0}
 *   spread: uniform                 # or least-similar
 *   fit: all                        # or resizable, none
 *   matching: activations           # or weights, identity
 *   keep_last: 0                    # layers kept per model (own heads)
 *   ridge: 0.001
 * </pre>
 * Paths are relative to the recipe's folder. Unknown keys, and mergekit keys Graft cannot honour
 * ({@code slices}, {@code tokenizer_source}, ...), are errors naming the key. Booleans read as 1 and 0.
 */
public final class MergeRecipe {
    private static final Set<String> TOP = Set.of("merge_method", "base_model", "models", "parameters", "dtype",
            "out_dtype", "convention", "seed", "align");
    private static final Set<String> PLEAS_TOP = Set.of("merge_method", "models", "pleas");
    private static final Set<String> PLEAS = Set.of("calibration", "tokenizer", "input", "samples", "width",
            "group_widths", "spread", "fit", "keep_last", "ridge", "matching");
    private static final Set<String> ALIGN = Set.of("method", "seed", "max_passes", "permute_outputs",
            "keep_key_biases", "calibration", "tokenizer", "input", "samples");
    private static final Set<String> MERGEKIT_ONLY = Set.of("slices", "modules", "tokenizer_source", "tokenizer",
            "chat_template", "input_model_parameters");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    private final Path file;
    private final MergeMethod method;
    private final Convention convention;
    private final MergeBuilder builder;
    private final Pleas pleas;

    private MergeRecipe(Path file, MergeMethod method, Convention convention, MergeBuilder builder, Pleas pleas) {
        this.file = file;
        this.method = method;
        this.convention = convention;
        this.builder = builder;
        this.pleas = pleas;
    }

    /** Reads and checks a recipe; returns it with a builder set up from it, ready for {@code writeTo}. */
    public static MergeRecipe read(Path file) {
        JsonNode root;
        try {
            root = YAML.readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new RecipeException(file, "is not valid YAML: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new RecipeException(file, "cannot be read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new RecipeException(file, "is not a recipe (expected a mapping with merge_method and models)");
        }
        if (root.path("merge_method").asText().equals("pleas")) {
            return new MergeRecipe(file, null, null, null, pleas(file, root));
        }
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
        } catch (IllegalArgumentException e) {
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
            } catch (IllegalArgumentException e) {
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
            b.align(alignment(file, root.get("align")));
        }
        try {
            b.validate();
        } catch (IllegalArgumentException e) {
            throw new RecipeException(file, e.getMessage());
        }
        return new MergeRecipe(file, method, convention, b, null);
    }

    private static Pleas pleas(Path file, JsonNode root) {
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!PLEAS_TOP.contains(key)) {
                throw new RecipeException(file, "key '" + key + "' does not apply to merge_method pleas (known: "
                        + new java.util.TreeSet<>(PLEAS_TOP) + ")");
            }
        }
        Path folder = file.toAbsolutePath().getParent();
        JsonNode models = root.get("models");
        if (models == null || !models.isArray() || models.size() != 2) {
            throw new RecipeException(file, "merge_method pleas needs 'models' with exactly two models");
        }
        Path[] paths = new Path[2];
        for (int i = 0; i < 2; i++) {
            JsonNode entry = models.get(i);
            paths[i] = folder.resolve(entry.isTextual() ? entry.asText() : text(file, entry, "model"));
        }
        JsonNode node = root.get("pleas");
        if (node == null || !node.isObject()) {
            throw new RecipeException(file, "merge_method pleas needs a 'pleas' mapping with at least calibration");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!PLEAS.contains(key)) {
                throw new RecipeException(file, "unknown key '" + key + "' in pleas (known: " + new java.util.TreeSet<>(PLEAS)
                        + ")");
            }
        }
        if (!node.has("calibration")) {
            throw new RecipeException(file, "pleas needs pleas.calibration (a .npy array, or a text file with "
                    + "pleas.tokenizer)");
        }
        try {
            Pleas p = Pleas.merge(paths[0], paths[1]).calibration(calibration(folder, node, 2000))
                    .width(node.path("width").asDouble(1.0))
                    .spread(Pleas.Spread.of(node.path("spread").asText("uniform")))
                    .fit(Pleas.Fit.of(node.path("fit").asText("all")))
                    .matching(Pleas.Matching.of(node.path("matching").asText("activations")))
                    .keepLast(node.path("keep_last").asInt(0))
                    .ridge(node.path("ridge").asDouble(1e-3));
            if (node.has("group_widths")) {
                if (!node.get("group_widths").isObject()) {
                    throw new RecipeException(file, "pleas.group_widths must be a mapping of group name to width");
                }
                node.get("group_widths").properties().forEach(e -> p.width(e.getKey(), e.getValue().asDouble()));
            }
            return p;
        } catch (IllegalArgumentException e) {
            throw new RecipeException(file, "pleas: " + e.getMessage());
        }
    }

    /**
     * Calibration data from a recipe section's {@code calibration} (relative to {@code folder}), with
     * {@code tokenizer} (and {@code samples}) for text or {@code input} (default {@code x}) for {@code .npy} arrays.
     */
    public static Calibration calibration(Path folder, JsonNode node, int defaultSamples) {
        Path data = folder.resolve(node.get("calibration").asText());
        return node.has("tokenizer")
                ? Calibration.text(data, folder.resolve(node.get("tokenizer").asText()),
                        node.path("samples").asInt(defaultSamples), 128)
                : Calibration.npy(data, node.path("input").asText("x"), 64);
    }

    private static dev.graft.align.Alignment alignment(Path file, JsonNode node) {
        Path folder = file.toAbsolutePath().getParent();
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
        dev.graft.align.Alignment a;
        if (method.equals("weight")) {
            a = dev.graft.align.Alignment.weightMatching();
        } else if (method.equals("activation")) {
            if (!node.has("calibration")) {
                throw new RecipeException(file, "align.method activation needs align.calibration (a .npy array, or a "
                        + "text file with align.tokenizer)");
            }
            a = dev.graft.align.Alignment.activationMatching(calibration(folder, node, 512));
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
        a.permuteOutputs(node.path("permute_outputs").asBoolean(false));
        a.keepKeyBiases(node.path("keep_key_biases").asBoolean(false));
        return a;
    }

    private static Convention convention(Path file, JsonNode node) {
        try {
            return Convention.parse(node.asText());
        } catch (IllegalArgumentException e) {
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
    public Path file() {
        return file;
    }

    public MergeMethod method() {
        return method;
    }

    public Convention convention() {
        return convention;
    }

    /** Whether the recipe is a PLeaS merge ({@link #pleas()}) rather than a tensor-wise one ({@link #builder()}). */
    public boolean isPleas() {
        return pleas != null;
    }

    /** The merge the recipe describes; further options (threads, layout, progress) may be set on it. */
    public MergeBuilder builder() {
        if (builder == null) {
            throw new IllegalStateException(file + " is a PLeaS recipe: use pleas()");
        }
        return builder;
    }

    /** The PLeaS merge the recipe describes; progress may be set on it. */
    public Pleas pleas() {
        if (pleas == null) {
            throw new IllegalStateException(file + " is not a PLeaS recipe: use builder()");
        }
        return pleas;
    }
}
