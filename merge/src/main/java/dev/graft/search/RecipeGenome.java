package dev.graft.search;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.GraftIoException;
import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.merge.MergeMethods;
import dev.graft.merge.MergeRecipe;
import dev.graft.onnx.OnnxModel;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.recipe.RecipeFile;
import dev.graft.recipe.Recipes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A merge recipe's numbers as a search space, so that any merge method can be searched (the genome of
 * mergekit-evolve; Akiba et al., "Evolutionary Optimization of Model Merging Recipes", 2024): for each model the
 * per-model parameters named ({@code weight}, {@code density}, ...) and the method's global parameters named
 * ({@code lambda}, {@code t}, ...), each one number per layer group ({@link LayerGroups}). Bounds: {@code weight}
 * [0, 1], {@code density} [0.05, 1], {@code t} [0, 1], {@code lambda} [0, 2]. A search
 * starts from the recipe's own numbers (clamped into the bounds), else the method's default.
 *
 * <p>A point is the recipe with those numbers in place, every other setting kept; it is merged in memory and run in
 * a session of its own ({@code Candidate.merged}): any method, at the cost of a session per candidate (see the
 * README's measurements). Its recipe is written as JSON, which YAML reads, with per-group values as
 * {@code {filter: TENSOR, value}} lists, full names longest first.
 */
public final class RecipeGenome implements SearchSpace {
    private static final Map<String, double[]> BOUNDS = Map.of("weight", new double[] {0, 1},
            "density", new double[] {0.05, 1}, "t", new double[] {0, 1}, "lambda", new double[] {0, 2});

    /** One number: a parameter of a model (null: global) in a layer group. */
    public record Gene(Integer model, String parameter, int group, double lower, double upper, double initial) {
    }

    private final RecipeFile recipe;
    private final String method;
    private final List<Gene> genes;
    private final int groups;
    private final Map<String, Integer> groupOf;

    private RecipeGenome(RecipeFile recipe, String method, List<Gene> genes, int groups, Map<String, Integer> groupOf) {
        this.recipe = recipe;
        this.method = method;
        this.genes = List.copyOf(genes);
        this.groups = groups;
        this.groupOf = groupOf;
    }

    /**
     * The genome of {@code recipeFile} (a tensor-wise merge recipe) over {@code parameters} in {@code groups} layer
     * groups (fewer if the model has fewer layers).
     *
     * @throws InvalidSettingException if the method does not read a parameter, or no bounds are known for it
     */
    public static RecipeGenome of(Path recipeFile, List<String> parameters, int groups) {
        RecipeFile recipe = RecipeFile.read(recipeFile);
        String method = recipe.text(recipe.root(), "merge_method");
        if (!MergeMethods.names().contains(method)) {
            throw recipe.error("a genome search takes a tensor-wise merge recipe; merge_method '" + method
                    + "' is not one (known: " + MergeMethods.names() + ")");
        }
        if (parameters.isEmpty() || groups < 1) {
            throw new InvalidSettingException("a genome needs at least one parameter and one group");
        }
        MergeMethod m = MergeMethods.create(method);
        JsonNode models = recipe.root().get("models");
        if (models == null || !models.isArray() || models.isEmpty()) {
            throw recipe.error("'models' must be a non-empty list of {model, parameters}");
        }
        Path template = recipe.root().has("base_model") ? recipe.path(recipe.root(), "base_model")
                : models.get(0).isTextual() ? recipe.folder().resolve(models.get(0).asText())
                : recipe.path(models.get(0), "model");
        LayerGroups layerGroups;
        try (OnnxModel model = OnnxModel.open(template)) {
            layerGroups = LayerGroups.of(model, groups);
        }
        int used = layerGroups.count();
        Map<String, Integer> groupOf = layerGroups.groupOf();
        List<Gene> genes = new ArrayList<>();
        for (String p : parameters) {
            ParameterSpec spec = m.parameters().stream().filter(s -> s.name().equals(p)).findFirst()
                    .orElseThrow(() -> new InvalidSettingException("merge method '" + method + "' has no parameter '"
                            + p + "' (it reads: " + m.parameters().stream().map(ParameterSpec::name).toList() + ")"));
            double[] b = BOUNDS.get(p);
            if (b == null) {
                throw new InvalidSettingException("parameter '" + p + "' has no known search bounds (searchable: "
                        + new java.util.TreeSet<>(BOUNDS.keySet()) + ")");
            }
            if (spec.scope() == ParameterSpec.Scope.MODEL) {
                for (int i = 0; i < models.size(); i++) {
                    double start = start(models.get(i).get("parameters"), p, spec, recipe, b);
                    for (int g = 0; g < used; g++) {
                        genes.add(new Gene(i, p, g, b[0], b[1], start));
                    }
                }
            } else {
                double start = start(recipe.root().get("parameters"), p, spec, recipe, b);
                for (int g = 0; g < used; g++) {
                    genes.add(new Gene(null, p, g, b[0], b[1], start));
                }
            }
        }
        return new RecipeGenome(recipe, method, genes, used, groupOf);
    }

    /** The recipe's own scalar value of {@code p} in {@code parameters}, else the default, clamped into bounds. */
    private static double start(JsonNode parameters, String p, ParameterSpec spec, RecipeFile recipe, double[] b) {
        JsonNode v = parameters == null ? null : parameters.get(p);
        double start = v != null && v.isNumber() ? v.asDouble()
                : spec.defaultValue() != null ? spec.defaultValue() : (b[0] + b[1]) / 2;
        return Math.min(b[1], Math.max(b[0], start));
    }

    /** The genes, in the order of a point's numbers. */
    public List<Gene> genes() {
        return genes;
    }

    @Override
    public int size() {
        return genes.size();
    }

    @Override
    public double[] initial() {
        return genes.stream().mapToDouble(Gene::initial).toArray();
    }

    @Override
    public double[] lower() {
        return genes.stream().mapToDouble(Gene::lower).toArray();
    }

    @Override
    public double[] upper() {
        return genes.stream().mapToDouble(Gene::upper).toArray();
    }

    @Override
    public String describe() {
        return "genome of " + method + ": " + genes.stream().map(Gene::parameter).distinct().toList() + " in "
                + groups + " group" + (groups == 1 ? "" : "s");
    }

    /** The recipe of point {@code x}, its paths absolute or relative to {@code folder} (null: absolute). */
    private ObjectNode tree(double[] x, Path folder) {
        if (x.length != size()) {
            throw new InvalidSettingException(x.length + " numbers given for the genome of " + recipe.file()
                    + ", which has " + size() + " (" + describe() + ")");
        }
        ObjectNode root = recipe.root().deepCopy();
        if (root.has("base_model")) {
            root.put("base_model", SearchRecipe.path(recipe.path(root, "base_model"), folder));
        }
        ArrayNode models = (ArrayNode) root.get("models");
        for (int i = 0; i < models.size(); i++) {
            if (models.get(i).isTextual()) {
                models.set(i, root.objectNode().put("model", models.get(i).asText()));
            }
            ObjectNode entry = (ObjectNode) models.get(i);
            entry.put("model", SearchRecipe.path(recipe.path(entry, "model"), folder));
        }
        for (int k = 0; k < genes.size(); k += groups) {
            Gene gene = genes.get(k);
            ObjectNode target = gene.model() == null ? object(root, "parameters")
                    : object((ObjectNode) models.get(gene.model()), "parameters");
            if (groups == 1) {
                target.put(gene.parameter(), x[k]);
                continue;
            }
            Map<String, Double> perTensor = new LinkedHashMap<>();
            for (Map.Entry<String, Integer> e : groupOf.entrySet()) {
                perTensor.put(e.getKey(), x[k + e.getValue()]);
            }
            target.set(gene.parameter(), SearchRecipe.perTensor(perTensor, x[k]));
        }
        return root;
    }

    private static ObjectNode object(ObjectNode parent, String key) {
        JsonNode n = parent.get(key);
        return n instanceof ObjectNode o ? o : parent.putObject(key);
    }

    /** Merges point {@code x} in memory (its recipe in a temporary file, paths absolute) and opens it. */
    @Override
    public Candidate.Session session(double[] x) {
        Path file;
        try {
            file = Files.createTempFile("graft-candidate-", ".yaml");
        } catch (IOException e) {
            throw new GraftIoException(Path.of(System.getProperty("java.io.tmpdir")), "used for a candidate recipe", e);
        }
        SearchRecipe.write(tree(x, null), "a candidate of " + describe(), file);
        try {
            MergeRecipe r = (MergeRecipe) Recipes.read(file);
            return Candidate.merged("candidate", r.builder().inMemory()).open();
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // a leftover candidate recipe in the work folder is harmless
            }
        }
    }

    @Override
    public void writeRecipe(double[] x, Path file) {
        SearchRecipe.write(tree(x, file.toAbsolutePath().getParent()), "a genome search's best point ("
                + describe() + ")", file);
    }

    @Override
    public void close() {
        // nothing held open: each candidate's session is the caller's
    }
}
