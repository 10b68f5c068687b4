package dev.graft.pleas;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.align.ActivationMatching;
import dev.graft.align.Alignment;
import dev.graft.align.PermutationSpec;
import dev.graft.align.Permutations;
import dev.graft.align.WeightMatching;
import dev.graft.data.Calibration;
import dev.graft.exec.Execution;
import dev.graft.exec.ProgressListener;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.LayerStages;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.graph.RenamedCopy;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.WrittenFiles;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * PLeaS (Nasery, Hayase, Koh and Kusupati, <i>PLeaS — Merging Models with Permutations and Least Squares</i>,
 * CVPR 2025): merges two models trained from different starts into one whose hidden widths the user chooses
 * between one model's (1.0×) and both (2.0×).
 * <ol>
 *   <li>Each hidden group's units are matched by the correlation of their activations on calibration data
 *   ({@link ActivationMatching}). A group that may widen ({@link MergedUnits}: its members are all layer weights
 *   and biases — MLP hidden layers, CNN channels, transformer FFN widths) keeps its least correlated pairs apart
 *   (both units), as many as the width budget gives it ({@link WidthBudget}), and merges the rest; other groups
 *   (a transformer's residual stream and attention heads) are merged whole.</li>
 *   <li>Each layer ({@link AffineLayer}: dense or convolution) is fitted by ridge least squares ({@link LeastSquares}):
 *   inputs are the original models' activations at the layer's input mapped to the merged units (averaged on
 *   merged units, each model's own on kept ones), targets its outputs mapped the same way. Layers are
 *   independent. The ridge pulls toward the merged-space average of the two layers ({@link MergedLayer#prior}),
 *   which computes both models exactly at 2.0× and is the permutation-aligned average at 1.0×. Other weights of
 *   the merged part are the permutation-aligned average.</li>
 *   <li>Optionally the last layers are kept per model ({@link Split}): models with different label spaces keep
 *   their own heads, on one merged body, and the merged model has both models' outputs.</li>
 * </ol>
 * The merged graph is A's with new weight shapes; it is run in ONNX Runtime and its widths checked before
 * {@link #writeTo} returns.
 */
public final class Pleas {
    /** How a global width is spread over the groups that may widen ({@link WidthBudget}). */
    public enum Spread {
        /** Each group {@code w} times as wide. */
        UNIFORM,
        /** The same added parameters, spent on the least similar pairs of all groups together. */
        LEAST_SIMILAR;

        /** The spread named {@code name} ({@code uniform}, {@code least-similar}). */
        public static Spread of(String name) {
            return named(name, Spread.class);
        }
    }

    /** How B's units are paired with A's; the pairs' activation correlations rank them for the width either way. */
    public enum Matching {
        /**
         * The default: {@link #IDENTITY} for models that share a start (the mean cosine of their dense weights, as
         * they are, is at least {@value #SHARED_START}: fine-tunes of one model, such as bge-small and e5-small),
         * else {@link #ACTIVATIONS} (models trained from different starts, whose weights are unrelated: cosines
         * near 0). Matching related models by activations moves units that already pair up and costs accuracy.
         */
        AUTO,
        /** By activation correlation on the calibration data (PLeaS's choice). */
        ACTIVATIONS,
        /** By weight matching (Git Re-Basin; {@link WeightMatching}), which keeps a shared order of related models. */
        WEIGHTS,
        /** Unit {@code i} with unit {@code i}: for models fine-tuned from one start, whose units already pair up. */
        IDENTITY;

        /** The matching named {@code name} ({@code auto}, {@code activations}, {@code weights}, {@code identity}). */
        public static Matching of(String name) {
            return named(name, Matching.class);
        }
    }

    /** Which layers are fitted by least squares; the others are set to the merged-space average. */
    public enum Fit {
        /**
         * The default: {@link #RESIZABLE} for models that share a start (measured on bge-small + e5-small, retrieval
         * MRR: 0.574 against 0.522 for fitting every layer, and 0.568 for the plain average), else {@link #ALL}.
         */
        AUTO,
        /** Every layer. */
        ALL,
        /** Layers that read or write a group that may widen (for a transformer: the FFN). */
        RESIZABLE,
        /** None: the permutation-aligned average (at 1.0×), for comparison. */
        NONE;

        /** The choice named {@code name} ({@code all}, {@code resizable}, {@code none}). */
        public static Fit of(String name) {
            return named(name, Fit.class);
        }
    }

    /**
     * Which inputs each fitted layer is fitted on. Measured on held-out data (README, PLeaS), fitting on the merged
     * model's own inputs is worse everywhere we tried it: bge-small + e5-small, retrieval MRR with calibration that
     * shares no sentence with the retrieval set, 0.507 against 0.570 (defaults: units as they are, FFN layers fitted)
     * and 0.465 against 0.529 (every layer fitted); digits models from different starts at 1.0×, up to 0.035 lower
     * (CNN, calibration on noise: 0.956 against 0.991). The fit then chases what earlier merged layers changed on
     * calibration data, targets staying the originals'.
     */
    public enum FitInputs {
        /**
         * The default: the original models' inputs mapped to the merged units (PLeaS's paper): every layer
         * independent, in as few passes as the memory budget allows.
         */
        ORIGINALS,
        /**
         * The merged model's own, layer by layer as RegMean++ does ({@link LayerStages}: a transformer block at a
         * time, else each layer in graph order): each stage is fitted on what the merge of everything before it feeds
         * it. One pass over the data per stage.
         */
        MERGED;

        /** The choice named {@code name} ({@code originals}, {@code merged}). */
        public static FitInputs of(String name) {
            return named(name, FitInputs.class);
        }
    }

    /** The constant of {@code type} named {@code name} in lower case with hyphens. */
    private static <E extends Enum<E>> E named(String name, Class<E> type) {
        for (E e : type.getEnumConstants()) {
            if (label(e).equals(name)) {
                return e;
            }
        }
        throw new InvalidSettingException("'" + name + "' is not one of "
                + Arrays.stream(type.getEnumConstants()).map(Pleas::label).toList());
    }

    private static String label(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /**
     * One group's outcome: its width in one model and in the merge, merged pairs, mean correlation of matched
     * pairs (NaN if no calibration activation shows it) over those whose units both vary on the data, the pairs
     * with a constant unit (dead on the data: merged first), and why it cannot widen (null if it can).
     */
    public record GroupReport(String group, int width, int mergedWidth, int mergedPairs, double meanSimilarity,
                              int constantPairs, String fixed) {
    }

    /** One layer: merged input features and outputs, whether fitted, and the fit's relative residual. */
    public record LayerReport(String weight, int inputs, int outputs, boolean fitted, double relativeResidual) {
    }

    /** What a PLeaS merge did. */
    public record Report(String modelA, String modelB, double width, String matching, double weightCosine,
                         String spread, double ridge,
                         String fit, String fitInputs, int keptLayers, int samples, long parametersA, long parametersMerged, List<String> outputs,
                         List<GroupReport> groups, List<LayerReport> layers, List<String> files) {
    }

    private final Path a;
    private final Path b;
    private Calibration data;
    private double width = 1.0;
    private final Map<String, Double> groupWidths = new LinkedHashMap<>();
    private Spread spread = Spread.UNIFORM;
    private Matching matching = Matching.AUTO;
    private double ridge = 1e-3;
    private Fit fit = Fit.AUTO;
    private FitInputs fitInputs = FitInputs.ORIGINALS;
    private int keptLayers;
    private ProbeOptions probes = ProbeOptions.defaults();

    private Pleas(Path a, Path b) {
        this.a = a;
        this.b = b;
    }

    /** Merges {@code a} and {@code b}; the result has {@code a}'s graph. */
    public static Pleas merge(Path a, Path b) {
        return new Pleas(a, b);
    }

    /** The calibration data (required). */
    public Pleas calibration(Calibration c) {
        this.data = c;
        return this;
    }

    /**
     * Widths of groups that may widen, as a multiple of one model's: 1.0 (all merged) to 2.0 (none); default 1.0.
     *
     * @throws InvalidSettingException if {@code w} is not between 1.0 and 2.0
     */
    public Pleas width(double w) {
        this.width = checkWidth(w);
        return this;
    }

    /**
     * One group's own width (a name from {@code graft inspect --groups}), outside the global budget.
     *
     * @throws InvalidSettingException if {@code w} is not between 1.0 and 2.0
     */
    public Pleas width(String group, double w) {
        groupWidths.put(group, checkWidth(w));
        return this;
    }

    private static double checkWidth(double w) {
        if (!(w >= 1 && w <= 2)) {
            throw new InvalidSettingException("width must be between 1.0 and 2.0, got " + w);
        }
        return w;
    }

    /** How units are paired (default {@link Matching#AUTO}: as they are for models that share a start). */
    public Pleas matching(Matching m) {
        this.matching = m;
        return this;
    }

    /** How the global width is spread over the groups ({@link WidthBudget}); default uniform. */
    public Pleas spread(Spread s) {
        this.spread = s;
        return this;
    }

    /**
     * Ridge strength toward the merged-space average, relative to the inputs' mean square (default 1e-3).
     *
     * @throws InvalidSettingException if {@code lambda} is not positive
     */
    public Pleas ridge(double lambda) {
        if (!(lambda > 0)) {
            throw new InvalidSettingException("ridge must be positive, got " + lambda);
        }
        this.ridge = lambda;
        return this;
    }

    /**
     * How the models are run on probe inputs (to infer permutation groups and to check the written widths): sizes
     * of symbolic dimensions such as a decoder's {@code past_sequence_length}. Default {@link ProbeOptions#defaults()}.
     */
    public Pleas probes(ProbeOptions options) {
        this.probes = java.util.Objects.requireNonNull(options);
        return this;
    }

    /** Which layers are fitted (default {@link Fit#AUTO}: resizable ones for models that share a start, else all). */
    public Pleas fit(Fit f) {
        this.fit = f;
        return this;
    }

    /** Which inputs the fitted layers are fitted on (default {@link FitInputs#ORIGINALS}). */
    public Pleas fitInputs(FitInputs inputs) {
        this.fitInputs = inputs;
        return this;
    }

    /**
     * Keeps the last {@code layers} layers (and what follows them) per model, each reading the merged body: for
     * models with different label spaces, 1 keeps each model's head. B's outputs get the suffix {@code _b}.
     *
     * @throws InvalidSettingException if {@code layers} is negative
     */
    public Pleas keepLast(int layers) {
        if (layers < 0) {
            throw new InvalidSettingException("layers to keep apart must be 0 or more, got " + layers);
        }
        this.keptLayers = layers;
        return this;
    }

    /** Runs the merge under {@link Execution#defaults()}; see {@link #writeTo(Path, Execution)}. */
    public Report writeTo(Path target) {
        return writeTo(target, Execution.defaults());
    }

    /**
     * Runs the merge and writes the merged model to {@code target}, atomically. Memory is bounded by
     * {@code execution}'s budget, not by the models' depth: matching takes the groups in passes over the data
     * whose sums fit in the budget ({@link ActivationMatching#correlations}); fitting takes half the budget for
     * its passes ({@link LayerFits}), the writer the other half. Progress is told of each calibration batch
     * ("matching", "fitting") and each layer made ("solving").
     *
     * @throws dev.graft.GraftException naming the model and tensor when the models differ in architecture, a
     *                                  layer cannot be fitted, or the merged model does not run with the widths
     *                                  the merge expects (its files are then removed)
     * @throws InvalidSettingException if no calibration data was given
     */
    public Report writeTo(Path target, Execution execution) {
        if (data == null) {
            throw new InvalidSettingException("PLeaS needs calibration data: call calibration(...)");
        }
        try (TemporaryFolder folder = TemporaryFolder.create("graft-pleas-names")) {
            // B's weights under A's names where the two exports number them apart: PLeaS pairs weights by name
            return write(target, execution, RenamedCopy.of(a, b, folder.resolve(b.getFileName().toString())));
        }
    }

    /** The merge, with B read from {@code named} (B, or its copy under A's names). */
    private Report write(Path target, Execution execution, Path named) {
        ProgressListener progress = execution.progress();
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(named)) {
            List<AffineLayer> layers = AffineLayer.find(ma);
            Map<String, AffineLayer> layersB = new HashMap<>();
            AffineLayer.find(mb).forEach(l -> layersB.put(l.weight(), l));
            checkSameLayers(layers, layersB);
            PermutationSpec spec = Alignment.spec(named, false, probes);
            Split split = Split.last(ma, mb, layers, keptLayers);
            Map<Integer, String> fixed = MergedUnits.fixedGroups(spec, layers, split);
            Map<Integer, Double> own = ownWidths(spec, fixed);
            double cosine = meanWeightCosine(ma, mb, layers);
            boolean sharedStart = cosine >= SHARED_START;
            Matching matching = this.matching != Matching.AUTO ? this.matching
                    : sharedStart ? Matching.IDENTITY : Matching.ACTIVATIONS;
            Fit fit = this.fit != Fit.AUTO ? this.fit : sharedStart ? Fit.RESIZABLE : Fit.ALL;
            Permutations given = matching == Matching.WEIGHTS
                    ? WeightMatching.match(ma, mb, spec, 0, 100, WeightMatching.attentionKeyBiases(mb)).permutations()
                    : Permutations.identity(spec);
            Map<Integer, int[]> assigned = new HashMap<>(); // by activations: each group's as its correlations come
            Map<Integer, double[]> similarity = new HashMap<>();
            ActivationMatching.correlations(a, named, spec, data, execution.memoryBudget(), progress, c -> {
                if (matching == Matching.ACTIVATIONS) {
                    assigned.putAll(ActivationMatching.assign(spec, c).permutations());
                }
                if (c.own() != null) {
                    similarity.put(c.group(), pairSimilarity(c.own(), spec.groups().get(c.group()).size(),
                            assigned.getOrDefault(c.group(), given.get(c.group()))));
                }
            });
            Permutations perms = given;
            for (Map.Entry<Integer, int[]> e : assigned.entrySet()) {
                perms = perms.with(e.getKey(), e.getValue());
            }
            List<WidthBudget.Group> budget = new ArrayList<>();
            Map<Integer, double[]> ranked = new HashMap<>();
            for (int g = 0; g < spec.groups().size(); g++) {
                PermutationSpec.Group group = spec.groups().get(g);
                if (fixed.containsKey(g) || group.nested()) {
                    continue;
                }
                if (!similarity.containsKey(g)) {
                    throw new GraftException(b, null, "group '" + group.name() + "' is not seen in any activation");
                }
                double[] s = Arrays.stream(similarity.get(g)).map(x -> Double.isNaN(x) ? 1 : x).toArray();
                ranked.put(g, s);
                budget.add(new WidthBudget.Group(g, group.size(), unitCost(ma, spec, g), s));
            }
            Map<Integer, Integer> kept = WidthBudget.kept(budget, width, own, spread);
            MergedUnits units = MergedUnits.of(spec, perms, kept, ranked);
            List<GroupReport> groups = groupReports(spec, similarity, units, fixed);
            List<MergedLayer> merged = plan(layers, layersB, units, split, fixed, spec, fit);
            long half = Math.max(1, execution.memoryBudget() / 2);
            List<LayerReport> reports;
            WrittenFiles files;
            try (LayerFits fits = new LayerFits(ma, mb, merged, data, ridge, half, progress)) {
                Map<String, OutputTensor> tensors = new HashMap<>();
                for (MergedLayer l : merged) {
                    l.tensors(ma, mb, name -> fits.values(l, name)).forEach(t -> tensors.put(t.name(), t));
                }
                if (fitInputs == FitInputs.MERGED && merged.stream().anyMatch(MergedLayer::fitted)) {
                    fitOnMergedInputs(ma, mb, units, split, merged, tensors, fits, execution.withMemoryBudget(half));
                }
                files = MergedGraph.write(ma, mb, units, split, tensors, merged, target, parameters(),
                        execution.withMemoryBudget(half), probes);
                reports = fits.reports();
            }
            long paramsA = parameters(ma.proto().getGraph().getInitializerList());
            long paramsMerged;
            List<String> outputs;
            try (OnnxModel out = OnnxModel.open(target)) {
                paramsMerged = parameters(out.proto().getGraph().getInitializerList());
                outputs = out.proto().getGraph().getOutputList().stream().map(v -> v.getName()).toList();
            }
            return new Report(a.toString(), b.toString(), width, label(matching)
                    + (this.matching == Matching.AUTO ? " (auto)" : ""), cosine, label(spread), ridge, label(fit)
                    + (this.fit == Fit.AUTO ? " (auto)" : ""), label(fitInputs),
                    keptLayers, data.samples(), paramsA, paramsMerged, outputs, groups, reports, files.names());
        }
    }

    /**
     * Fits every fitted layer on the merged model's own inputs ({@link LayerFits#fitOnMergedInputs}): the merge is
     * written first with every layer at its prior (to a temporary folder, removed afterwards), then run stage by
     * stage with the layers fitted so far given in memory.
     */
    private void fitOnMergedInputs(OnnxModel ma, OnnxModel mb, MergedUnits units, Split split,
                                   List<MergedLayer> merged, Map<String, OutputTensor> tensors, LayerFits fits,
                                   Execution execution) {
        try (TemporaryFolder folder = TemporaryFolder.create("graft-pleas")) {
            Map<String, OutputTensor> priors = new HashMap<>();
            for (MergedLayer l : merged) {
                l.tensors(ma, mb, name -> l.values(l.prior(ma, mb)).get(name)).forEach(t -> priors.put(t.name(), t));
            }
            Path prior = folder.resolve("prior.onnx");
            MergedGraph.write(ma, mb, units, split, priors, merged, prior, parameters(), execution, probes);
            Map<String, MergedLayer> byWeight = new HashMap<>();
            merged.stream().filter(MergedLayer::fitted).forEach(l -> byWeight.put(l.a().weight(), l));
            List<List<MergedLayer>> stages = LayerStages.of(ma, merged.stream().filter(MergedLayer::fitted)
                    .map(MergedLayer::a).toList()).stream()
                    .map(stage -> stage.stream().map(l -> byWeight.get(l.weight())).toList()).toList();
            fits.fitOnMergedInputs(prior, stages, tensors);
        }
    }

    /** The mean cosine at which {@link Matching#AUTO} takes two models for fine-tunes of one start. */
    public static final double SHARED_START = 0.5;

    /** The mean, over A's layers, of the cosine between A's and B's weights as they are (unpermuted). */
    static double meanWeightCosine(OnnxModel ma, OnnxModel mb, List<AffineLayer> layers) {
        double total = 0;
        for (AffineLayer l : layers) {
            float[] x = ma.weight(l.weight()).orElseThrow().toFloats();
            float[] y = mb.weight(l.weight()).orElseThrow().toFloats();
            double dot = 0;
            double nx = 0;
            double ny = 0;
            for (int i = 0; i < x.length; i++) {
                dot += (double) x[i] * y[i];
                nx += (double) x[i] * x[i];
                ny += (double) y[i] * y[i];
            }
            total += nx > 0 && ny > 0 ? dot / Math.sqrt(nx * ny) : 0;
        }
        return layers.isEmpty() ? 0 : total / layers.size();
    }

    /** B must have A's layers, of the same kind and widths, under the same names. */
    private void checkSameLayers(List<AffineLayer> layers, Map<String, AffineLayer> layersB) {
        if (layers.isEmpty()) {
            throw new GraftException(a, null, "has no layer PLeaS can fit (MatMul, Gemm or Conv with an initializer "
                    + "weight)");
        }
        for (AffineLayer l : layers) {
            AffineLayer lb = layersB.get(l.weight());
            if (lb == null) {
                throw new GraftException(b, l.weight(), "A has a layer with this weight and B has not; PLeaS merges "
                        + "models of one architecture");
            }
            if (lb.in() != l.in() || lb.out() != l.out() || (lb.patches() == null) != (l.patches() == null)
                    || (lb.norm() == null) != (l.norm() == null)) {
                throw new GraftException(b, l.weight(), "expected a " + (l.patches() == null ? "dense" : "convolution")
                        + " layer " + l.in() + " → " + l.out() + " as in A, got a "
                        + (lb.patches() == null ? "dense" : "convolution") + " layer " + lb.in() + " → " + lb.out());
            }
        }
    }

    private Map<Integer, Double> ownWidths(PermutationSpec spec, Map<Integer, String> fixed) {
        Map<Integer, Double> own = new HashMap<>();
        groupWidths.forEach((name, w) -> {
            int g = spec.groups().stream().map(PermutationSpec.Group::name).toList().indexOf(name);
            if (g < 0) {
                throw new InvalidSettingException("width of group '" + name + "': " + b + " has no such permutation "
                        + "group (names: graft inspect --groups)");
            }
            if (fixed.containsKey(g) && w != 1.0) {
                throw new InvalidSettingException("width of group '" + name + "': it cannot widen: " + fixed.get(g));
            }
            own.put(g, w);
        });
        return own;
    }

    /** Parameters one more unit of group {@code g} adds: for each member axis, the weight's size over the axis'. */
    private static long unitCost(OnnxModel m, PermutationSpec spec, int g) {
        long cost = 0;
        for (PermutationSpec.Member member : spec.groups().get(g).members()) {
            long[] shape = m.weight(member.weight()).orElseThrow().shape();
            long size = 1;
            for (long d : shape) {
                size *= d;
            }
            cost += size / spec.groups().get(g).size();
        }
        return cost;
    }

    /**
     * The correlation of each of A's units with its match, NaN where either is constant on the data (all its
     * correlations vanish).
     */
    private static double[] pairSimilarity(double[] c, int n, int[] perm) {
        boolean[] liveA = new boolean[n];
        boolean[] liveB = new boolean[n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if (Math.abs(c[i * n + j]) > 1e-6) {
                    liveA[i] = true;
                    liveB[j] = true;
                }
            }
        }
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = liveA[i] && liveB[perm[i]] ? c[i * n + perm[i]] : Double.NaN;
        }
        return s;
    }

    private static List<GroupReport> groupReports(PermutationSpec spec, Map<Integer, double[]> similarity,
                                                  MergedUnits units, Map<Integer, String> fixed) {
        List<GroupReport> out = new ArrayList<>();
        for (int g = 0; g < spec.groups().size(); g++) {
            PermutationSpec.Group group = spec.groups().get(g);
            if (group.nested()) {
                continue;
            }
            int n = group.size();
            double[] s = similarity.getOrDefault(g, new double[0]);
            double mean = Arrays.stream(s).filter(x -> !Double.isNaN(x)).average().orElse(Double.NaN);
            int constant = (int) Arrays.stream(s).filter(Double::isNaN).count();
            UnitMap map = units.group(g);
            int mergedWidth = map == null ? n : map.width();
            int pairs = map == null ? n : map.merged();
            out.add(new GroupReport(group.name(), n, mergedWidth, pairs, mean, constant, fixed.get(g)));
        }
        return out;
    }

    /** Each layer of the merged part and each entry of the kept parts, with its unit maps. */
    private List<MergedLayer> plan(List<AffineLayer> layers, Map<String, AffineLayer> layersB, MergedUnits units, Split split,
                                   Map<Integer, String> fixed, PermutationSpec spec, Fit fit) {
        List<MergedLayer> out = new ArrayList<>();
        for (AffineLayer l : layers) {
            boolean entry = split.entries().contains(l.weight());
            if (split.weights().contains(l.weight()) && !entry) {
                continue;
            }
            AffineLayer lb = layersB.get(l.weight());
            UnitMap channels = units.axis(l.weight(), l.inAxis(), l.in());
            UnitMap outs = entry ? UnitMap.separate(l.out(), lb.out()) : units.axis(l.weight(), 1 - l.inAxis(), l.out());
            boolean resizable = spec.byWeight().getOrDefault(l.weight(), List.of()).stream()
                    .flatMap(ax -> ax.factors().stream()).anyMatch(f -> f.group() >= 0 && !fixed.containsKey(f.group()));
            boolean fitted = entry || fit == Fit.ALL || fit == Fit.RESIZABLE && resizable;
            out.add(new MergedLayer(l, lb, channels, outs, fitted, entry));
        }
        return out;
    }

    /** Provenance parameters of this merge. */
    private Map<String, String> parameters() {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("method", "pleas");
        parameters.put("width", Double.toString(width));
        groupWidths.forEach((g, w) -> parameters.put("width." + g, Double.toString(w)));
        parameters.put("matching", label(matching));
        parameters.put("spread", label(spread));
        parameters.put("ridge", Double.toString(ridge));
        parameters.put("fit", label(fit));
        parameters.put("fit_inputs", label(fitInputs));
        parameters.put("keep_last", Integer.toString(keptLayers));
        parameters.put("calibration", data.source());
        return parameters;
    }

    private static long parameters(List<ai.onnx.proto.OnnxMl.TensorProto> initializers) {
        long total = 0;
        for (var t : initializers) {
            long size = 1;
            for (long d : t.getDimsList()) {
                size *= d;
            }
            total += size;
        }
        return total;
    }
}
