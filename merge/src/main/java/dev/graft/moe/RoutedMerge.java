package dev.graft.moe;

import dev.graft.Graft;
import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.data.ValueShapes;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.graph.ExpertRouting;
import dev.graft.graph.GraphEdit;
import dev.graft.merge.MergeMethods;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.plan.TaskVectorStats;
import dev.graft.plan.TensorDiagnostics;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A routed merge written as one ONNX graph: chosen dense layers compute {@code W(x) = R + Σₜ cₜ(x)·Δₜ} (and their
 * bias {@code b_R + Σₜ cₜ(x)·δₜ}), where {@code Δₜ = Wₜ − R} is expert {@code t}'s update of the layer from a
 * reference {@code R} and {@code c(x)} a router's coefficients; every other weight comes from a static merge (task
 * arithmetic with λ by default, {@code θ₀ + λ·Σₜ τₜ}; or any merged model of the same graph, {@link #staticMerge}).
 * Two presets:
 * <ul>
 * <li>{@link #wemoe}: weight-ensembling MoE (Tang et al., "Merging Multi-Task Models via Weight-Ensembling Mixture
 * of Experts", ICML 2024): {@code R = W₀} (the base), {@code Δₜ = τₜ} the task vectors, a router per transformer
 * layer ({@link RoutedLayers}: by default every dense layer outside attention, the router reading that layer's MLP
 * input pooled over its real tokens), λ = 0.3.</li>
 * <li>{@link #mediator}: after Mediator (Lai et al., 2025; its exact details could not be checked here, so these
 * are Graft's choices): the static part is the average of the experts (λ = 1/T); routed layers start from it
 * ({@code R}, the dense expert) and {@code Δₜ} is each expert's residual from it, trimmed to its largest 30 % and
 * stored sparse (the sparse experts, {@link ExpertDeltas}); one task classifier on the input of the first layer
 * group the experts change routes them all ({@link #taskLevel}), a sample whose largest posterior reaches 0.9
 * taking its task's expert alone and the others the posterior-weighted mix ({@link #confidence}). Mediator routes
 * only the layers whose experts conflict most: {@link #routedShare} does that (by the share of entries where two
 * task vectors have opposite signs), but routing them all is the preset, as measured better.</li>
 * </ul>
 * The graph keeps {@code R} and the stacked updates and adds {@code x·(Σₜ cₜ·Δₜ)} to {@code x·R}, which equals
 * {@code x·W(x)} ({@link ExpertRouting}). So with dense updates and every changed layer routed, a router that always
 * picks expert {@code t} gives expert {@code t}'s function, whatever the reference; WEMoE with constant routers λ is
 * task arithmetic with λ.
 *
 * <pre>{@code
 * RoutedMerge.wemoe(base, List.of(taskA, taskB))
 *     .routers(RouterSource.fitted(List.of(samplesA, samplesB)))
 *     .writeTo(Path.of("moe.onnx"));
 * }</pre>
 */
public final class RoutedMerge {
    /** What the experts' updates start from. */
    public enum Reference {
        /** The base model's weights: the updates are task vectors (WEMoE). */
        BASE,
        /** The static merge's weights: the updates are residuals from it, the routed layer starts from it. */
        STATIC
    }

    /** The name of the graph input by which sequences are pooled. */
    static final String MASK = "attention_mask";
    private final String method;
    private final Path base;
    private final List<Path> experts;
    private double lambda;
    private Path staticMerge;
    private String routed = "mlp";
    private RouterSource routers = RouterSource.constant();
    private int passes = 2;
    private Reference reference;
    private double density;
    private double routedShare;
    private boolean taskLevel;
    private double confidence;
    private Execution execution = Execution.defaults();

    /** What was written: the groups and their routers, and each router's accuracy on its task samples. */
    public record Report(Path target, String method, int experts, String routers, List<GroupReport> groups,
                         long bytes) {
        /** The mean routing accuracy over routed groups, or NaN if it was not measured. */
        public double routingAccuracy() {
            return groups.stream().filter(GroupReport::routed).mapToDouble(GroupReport::routingAccuracy).average()
                    .orElse(Double.NaN);
        }
    }

    /**
     * One group of layers that share a router (or would): its name, the value its router reads, its weights;
     * whether it was routed (else its weights are the static merge's) and by which router; how much the experts'
     * task vectors of those weights conflict (the share of entries where two of them are non-zero with opposite
     * signs, and their mean pairwise cosine, both averaged over the weights by size); and the share of task samples
     * whose largest coefficient is their own task's (NaN without task samples, or not routed).
     */
    public record GroupReport(String name, String input, List<String> weights, boolean routed, String router,
                              double signConflict, double cosine, double routingAccuracy) {
        GroupReport withRoutingAccuracy(double accuracy) {
            return new GroupReport(name, input, weights, routed, router, signConflict, cosine, accuracy);
        }
    }

    private RoutedMerge(String method, Path base, List<Path> experts, double lambda, Reference reference,
                        double density, double routedShare, boolean taskLevel, double confidence) {
        if (experts.isEmpty()) {
            throw new InvalidSettingException("a routed merge needs at least one expert model besides the base");
        }
        this.method = method;
        this.base = base;
        this.experts = List.copyOf(experts);
        this.lambda = lambda;
        this.reference = reference;
        this.density = density;
        this.routedShare = routedShare;
        this.taskLevel = taskLevel;
        this.confidence = confidence;
    }

    /**
     * WEMoE of {@code experts} (fine-tunes of {@code base}, one graph): task vectors from the base, a router per
     * layer group, every selected layer routed, λ = 0.3.
     *
     * @throws InvalidSettingException if there are no experts
     */
    public static RoutedMerge wemoe(Path base, List<Path> experts) {
        return new RoutedMerge("wemoe", base, experts, 0.3, Reference.BASE, 1, 1, false, 0);
    }

    /**
     * Mediator-style routing of {@code experts}: the average as the static part and dense expert, residuals trimmed
     * to their largest 30 % and stored sparse, one task classifier routing every selected layer group. Routing only
     * the most conflicting half ({@link #routedShare} 0.5) and keeping 10 % were measured worse on the digits and
     * text tasks (README).
     *
     * @throws InvalidSettingException if there are no experts
     */
    public static RoutedMerge mediator(Path base, List<Path> experts) {
        return new RoutedMerge("mediator", base, experts, 1.0 / Math.max(1, experts.size()), Reference.STATIC, 0.3,
                1, true, 0.9);
    }

    /** What the experts' updates start from (WEMoE: {@link Reference#BASE}; Mediator: {@link Reference#STATIC}). */
    public RoutedMerge reference(Reference reference) {
        this.reference = reference;
        return this;
    }

    /**
     * The share of each expert's weight update kept (largest magnitudes), stored sparse below 1.
     *
     * @throws InvalidSettingException if {@code density} is not in (0, 1]
     */
    public RoutedMerge density(double density) {
        if (!(density > 0 && density <= 1)) {
            throw new InvalidSettingException("density must be in (0, 1], got " + density);
        }
        this.density = density;
        return this;
    }

    /**
     * The share of layer groups routed, those whose experts conflict most (by sign conflicts); the others come from
     * the static merge.
     *
     * @throws InvalidSettingException if {@code share} is not in (0, 1]
     */
    public RoutedMerge routedShare(double share) {
        if (!(share > 0 && share <= 1)) {
            throw new InvalidSettingException("the routed share must be in (0, 1], got " + share);
        }
        this.routedShare = share;
        return this;
    }

    /**
     * Posterior routers (fitted, prototypes) give a sample its most probable task alone (coefficient 1, the others
     * 0) when that task's posterior reaches {@code confidence}, and the posteriors otherwise: Mediator's routing by
     * uncertainty (its preset: 0.9); 0, WEMoE's, never does.
     *
     * @throws InvalidSettingException if {@code confidence} is not in [0, 1]
     */
    public RoutedMerge confidence(double confidence) {
        if (!(confidence >= 0 && confidence <= 1)) {
            throw new InvalidSettingException("a router confidence must be in [0, 1], got " + confidence);
        }
        this.confidence = confidence;
        return this;
    }

    /**
     * One router for every routed layer (a task classifier on the input of the first layer group that the experts
     * change), or one per group (WEMoE's).
     */
    public RoutedMerge taskLevel(boolean taskLevel) {
        this.taskLevel = taskLevel;
        return this;
    }

    /**
     * Task arithmetic's λ for the static part (WEMoE 0.3; Mediator 1/T, the average), also the constant routers'
     * coefficient.
     *
     * @throws InvalidSettingException if {@code lambda} is not finite
     */
    public RoutedMerge lambda(double lambda) {
        if (!Double.isFinite(lambda)) {
            throw new InvalidSettingException("lambda must be finite, got " + lambda);
        }
        this.lambda = lambda;
        return this;
    }

    /** Takes the weights outside the routed layers from {@code merged} (a merge of the same graph) instead. */
    public RoutedMerge staticMerge(Path merged) {
        this.staticMerge = merged;
        return this;
    }

    /**
     * Which dense layers are routed: {@code mlp} (default), {@code all}, or a regular expression over module paths.
     *
     * @throws InvalidSettingException for a malformed regular expression
     */
    public RoutedMerge routed(String selection) {
        RoutedLayers.selection(selection);
        this.routed = selection;
        return this;
    }

    /** Where the routers come from (default: {@link RouterSource#constant()}). */
    public RoutedMerge routers(RouterSource source) {
        this.routers = source;
        return this;
    }

    /**
     * How many times routers fitted to data are fitted (default 2): the first fit reads the static merge's values
     * at each router's input, each later one the routed model of the fit before, whose earlier layers are routed
     * as they will be (with as many passes as router groups, every router sees its input as the final model
     * computes it).
     *
     * @throws InvalidSettingException if {@code passes} is below 1
     */
    public RoutedMerge passes(int passes) {
        if (passes < 1) {
            throw new InvalidSettingException("router fitting passes must be 1 or more, got " + passes);
        }
        this.passes = passes;
        return this;
    }

    /** Threads and memory budget of the write. */
    public RoutedMerge execution(Execution execution) {
        this.execution = execution;
        return this;
    }

    /**
     * Writes the routed model to {@code target}; with task samples, measures each router's accuracy on them.
     *
     * @throws IncompatibleModelsException naming the file and tensor if the models do not pair
     */
    public Report writeTo(Path target) {
        Path parent = target.toAbsolutePath().getParent();
        try (TemporaryFolder scratch = TemporaryFolder.in(parent, ".graft-moe")) {
            Path merged = staticMerge;
            if (merged == null) {
                merged = scratch.resolve("static.onnx");
                var merge = Graft.merge().base(base).method(MergeMethods.create("task_arithmetic"))
                        .parameter("lambda", lambda).threads(execution.threads())
                        .memoryBudget(execution.memoryBudget());
                experts.forEach(e -> merge.model(e, 1.0));
                merge.writeTo(merged);
            }
            Path features = merged;
            for (int pass = 1; routers.tasks() != null && pass < passes; pass++) {
                Path routed = scratch.resolve("pass-" + pass + ".onnx");
                write(merged, features, routed);
                features = routed;
            }
            Written written = write(merged, features, target);
            List<GroupReport> reports = written.groups();
            if (routers.tasks() != null) {
                Map<String, Double> accuracy = RoutingAccuracy.of(target, routers.tasks());
                reports = reports.stream().map(g -> g.withRoutingAccuracy(!g.routed() ? Double.NaN
                        : accuracy.getOrDefault(taskLevel ? "task" : g.name(), Double.NaN))).toList();
            }
            return new Report(target, method, experts.size(), routers.describe(), reports, written.bytes());
        }
    }

    private record Written(List<GroupReport> groups, long bytes) {
    }

    /** Writes the routed model to {@code target}, fitting routers (if they are fitted) on {@code features}. */
    private Written write(Path merged, Path features, Path target) {
        List<OnnxModel> opened = new ArrayList<>();
        try {
            OnnxModel b = OnnxModel.open(base);
            opened.add(b);
            for (Path e : experts) {
                opened.add(OnnxModel.open(e));
            }
            MergePlan pairs = MergePlan.of(opened);
            OnnxModel m = OnnxModel.open(merged);
            opened.add(m);
            int t = experts.size();
            List<RoutedLayers.Group> groups = RoutedLayers.of(b, routed, w -> changed(pairs, w),
                    ValueShapes.of(base, ProbeOptions.defaults()));
            Map<String, double[]> conflicts = new LinkedHashMap<>();
            for (RoutedLayers.Group g : groups) {
                conflicts.put(g.name(), conflict(pairs, g));
            }
            Set<String> chosen = mostConflicting(conflicts);
            List<RoutedLayers.Group> routedGroups = groups.stream().filter(g -> chosen.contains(g.name())).toList();
            RoutedLayers.Group first = groups.get(0);
            List<RoutedLayers.Group> routerGroups = taskLevel ? List.of(new RoutedLayers.Group("task", first.input(),
                    first.rank(), first.width(), List.of())) : routedGroups;
            Map<String, Router> made = new LinkedHashMap<>();
            routers.routers(routerGroups, t, lambda, features).forEach((name, r) -> made.put(name,
                    r instanceof Router.Posterior p && confidence > 0 ? p.withConfidence(confidence) : r));
            GraphEdit edit = GraphEdit.of(m);
            ExpertRouting routing = ExpertRouting.of(edit, MASK);
            ExpertDeltas deltas = new ExpertDeltas(pairs, reference == Reference.STATIC ? m : null, density, t);
            Set<String> fromBase = new HashSet<>();
            List<TensorJob> added = new ArrayList<>();
            Map<String, String> routerValues = new LinkedHashMap<>();
            for (RoutedLayers.Group g : routerGroups) {
                String scope = ExpertRouting.SCOPE + g.name();
                routerValues.put(g.name(), made.get(g.name()).addTo(routing, scope, g.input(), g.rank()));
                made.get(g.name()).tensors(scope).forEach(o -> added.add(new TensorJob(o, 2 * o.byteLength())));
            }
            List<GroupReport> reports = new ArrayList<>();
            for (RoutedLayers.Group g : groups) {
                List<String> weights = g.layers().stream().map(RoutedLayers.Layer::weight).toList();
                double[] conflict = conflicts.get(g.name());
                if (!chosen.contains(g.name())) {
                    reports.add(new GroupReport(g.name(), g.input(), weights, false, "static", conflict[0],
                            conflict[1], Double.NaN));
                    continue;
                }
                String routerName = taskLevel ? "task" : g.name();
                for (RoutedLayers.Layer layer : g.layers()) {
                    List<GraphEdit.DenseNode> nodes = edit.denseNodesReading(Set.of(layer.weight()));
                    if (nodes.size() != 1) {
                        throw new UnsupportedModelException(base, layer.weight(), "is read by " + nodes.size()
                                + " dense nodes; a routed layer needs one");
                    }
                    requireFloat(b, layer.weight());
                    requireSame(b, m, layer.weight(), merged);
                    String weightDeltas = deltas.weights(layer, routing, added);
                    TensorJob biasDeltas = deltas.biases(layer);
                    routing.addRoutedBranch(nodes.get(0), layer.inputRank(), routerValues.get(routerName), t,
                            layer.affine().in(), layer.affine().out(), weightDeltas,
                            biasDeltas == null ? null : biasDeltas.tensor().name(),
                            ExpertRouting.SCOPE + layer.modulePath());
                    if (biasDeltas != null) {
                        requireSame(b, m, layer.bias(), merged);
                        added.add(biasDeltas);
                    }
                    if (reference == Reference.BASE) {
                        fromBase.add(layer.weight());
                        if (layer.bias() != null) {
                            fromBase.add(layer.bias());
                        }
                    }
                }
                reports.add(new GroupReport(g.name(), g.input(), weights, true,
                        (taskLevel ? "task-level " : "") + routerForm(made.get(routerName)), conflict[0], conflict[1],
                        Double.NaN));
            }
            RewritePlan.Builder plan = RewritePlan.of(method, edit.build());
            opened.subList(0, t + 1).forEach(plan::input);
            plan.parameter("experts", String.valueOf(t)).parameter("lambda", String.valueOf(lambda))
                    .parameter("routed", routed).parameter("routers", routers.describe())
                    .parameter("static", staticMerge == null ? "task_arithmetic" : staticMerge.getFileName().toString())
                    .parameter("reference", reference.name().toLowerCase(java.util.Locale.ROOT))
                    .parameter("density", String.valueOf(density)).parameter("task_level", String.valueOf(taskLevel))
                    .parameter("groups_routed", routedGroups.size() + " of " + groups.size());
            for (Weight w : m.initializers()) {
                plan.copy(fromBase.contains(w.name()) ? b.weight(w.name()).orElseThrow() : w);
            }
            added.forEach(plan::add);
            long bytes = Rewriter.write(plan.build(), target, execution).files().bytes();
            return new Written(reports, bytes);
        } finally {
            opened.forEach(OnnxModel::close);
        }
    }

    /** The groups routed: the {@link #routedShare} of them (at least one) whose sign conflict is largest. */
    private Set<String> mostConflicting(Map<String, double[]> conflicts) {
        int count = (int) Math.max(1, Math.round(routedShare * conflicts.size()));
        List<String> ranked = new ArrayList<>(conflicts.keySet());
        ranked.sort((x, y) -> Double.compare(conflicts.get(y)[0], conflicts.get(x)[0]));
        return new HashSet<>(ranked.subList(0, count));
    }

    /** The sign conflict and mean cosine of a group's task vectors, averaged over its weights by size. */
    private static double[] conflict(MergePlan pairs, RoutedLayers.Group g) {
        double conflict = 0;
        double cosine = 0;
        long size = 0;
        for (RoutedLayers.Layer layer : g.layers()) {
            TensorDiagnostics d = diagnostics(pairs, layer.weight());
            conflict += d.signConflict() == null ? 0 : d.signConflict() * d.size();
            cosine += meanCosine(d) * d.size();
            size += d.size();
        }
        return new double[] {conflict / size, cosine / size};
    }

    /** Whether some expert's weight paired with base weight {@code name} differs from it. */
    private static boolean changed(MergePlan pairs, String name) {
        MergePlan.Step step = pairs.step(name);
        if (step == null || step.quantized() != null) {
            return false;
        }
        float[] base = step.sources().get(0).toFloats();
        for (int e = 1; e < step.sources().size(); e++) {
            if (!Arrays.equals(base, step.sources().get(e).toFloats())) {
                return true;
            }
        }
        return false;
    }

    /** Norms, cosines and sign conflicts of the experts' task vectors of base weight {@code name}. */
    private static TensorDiagnostics diagnostics(MergePlan pairs, String name) {
        List<Weight> sources = pairs.step(name).sources();
        float[][] experts = new float[sources.size() - 1][];
        for (int e = 1; e < sources.size(); e++) {
            experts[e - 1] = sources.get(e).toFloats();
        }
        return TaskVectorStats.of(name, null, sources.get(0).toFloats(), experts);
    }

    /** The mean cosine over pairs of task vectors (1 with one expert). */
    private static double meanCosine(TensorDiagnostics d) {
        double sum = 0;
        int pairs = 0;
        for (int a = 0; a < d.cosines().size(); a++) {
            for (int b = a + 1; b < d.cosines().size(); b++) {
                Double c = d.cosines().get(a).get(b);
                sum += c == null ? 0 : c;
                pairs++;
            }
        }
        return pairs == 0 ? 1 : sum / pairs;
    }

    static void requireFloat(OnnxModel model, String weight) {
        ElementType type = model.weight(weight).orElseThrow().type();
        if (type != ElementType.FLOAT) {
            throw new UnsupportedModelException(model.file(), weight, "is " + type + "; routed layers are float32 "
                    + "for now (convert the models first: graft convert --dtype float32)");
        }
    }

    private static void requireSame(OnnxModel base, OnnxModel merged, String name, Path mergedFile) {
        Weight w = merged.weight(name).orElse(null);
        if (w == null || !Arrays.equals(w.shape(), base.weight(name).orElseThrow().shape())) {
            throw new IncompatibleModelsException(mergedFile, name, "the static merge needs the base's weight '" + name
                    + "' " + Arrays.toString(base.weight(name).orElseThrow().shape()) + " (a merge of the same graph)");
        }
    }

    private static String routerForm(Router r) {
        if (r instanceof Router.Posterior p) {
            return (p.normalized() ? "prototype" : "logistic") + " posterior ×" + p.scale()
                    + (p.confidence() > 0 ? ", one-hot from " + p.confidence() : "");
        }
        Router.Mlp m = (Router.Mlp) r;
        return m.hidden() > 0 ? "MLP (" + m.hidden() + " hidden)" : "linear";
    }
}
