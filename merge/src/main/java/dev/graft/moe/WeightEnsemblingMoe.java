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
import dev.graft.onnx.OutputTensor;
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
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Weight-ensembling mixture of experts (WEMoE; Tang et al., "Merging Multi-Task Models via Weight-Ensembling
 * Mixture of Experts", ICML 2024), written as one ONNX graph. Every weight outside the routed layers comes from a
 * static merge (task arithmetic with λ by default, {@code θ₀ + λ·Σₜ τₜ}; or any merged model of the same graph,
 * {@link #staticMerge}); each routed dense layer computes {@code W(x) = W₀ + Σₜ rₜ(x)·τₜ} (and its bias
 * {@code b₀ + Σₜ rₜ(x)·δₜ}) with {@code τₜ = Wₜ − W₀} of expert {@code t} and {@code r(x)} the coefficients of the
 * router of its group ({@link RoutedLayers}: by default every dense layer outside attention, one router per
 * transformer layer, reading that layer's MLP input, pooled per sample over its real tokens). The graph keeps
 * {@code W₀} and the stacked task vectors and computes {@code x·W₀ + Σₜ rₜ·(x·τₜ)}, which equals {@code x·W(x)}
 * (a linear map mixes outputs as it mixes weights; {@link ExpertRouting}). Routers come from a
 * {@link RouterSource}. So a router that always picks expert {@code t}, with every dense layer routed, gives expert
 * {@code t}'s function, and constant routers λ give task arithmetic with λ.
 *
 * <pre>{@code
 * WeightEnsemblingMoe.of(base, List.of(taskA, taskB))
 *     .routers(RouterSource.fitted(List.of(samplesA, samplesB)))
 *     .writeTo(Path.of("moe.onnx"));
 * }</pre>
 */
public final class WeightEnsemblingMoe {
    /** The name of the graph input by which sequences are pooled. */
    static final String MASK = "attention_mask";
    private final Path base;
    private final List<Path> experts;
    private double lambda = 0.3;
    private Path staticMerge;
    private String routed = "mlp";
    private RouterSource routers = RouterSource.constant();
    private int passes = 2;
    private Execution execution = Execution.defaults();

    /** What was written: the groups and their routers, and each router's accuracy on its task samples. */
    public record Report(Path target, int experts, String routers, List<GroupReport> groups, long bytes) {
        /** The mean routing accuracy over groups, or NaN if it was not measured. */
        public double routingAccuracy() {
            return groups.stream().mapToDouble(GroupReport::routingAccuracy).average().orElse(Double.NaN);
        }
    }

    /**
     * One router's group: its name, the value it reads, the weights it routes, its form; how much the experts'
     * task vectors of those weights conflict (the share of entries where two of them are non-zero with opposite
     * signs, and their mean pairwise cosine, both averaged over the weights by size); and the share of task samples
     * whose largest coefficient is their own task's (NaN without task samples).
     */
    public record GroupReport(String name, String input, List<String> weights, String router, double signConflict,
                              double cosine, double routingAccuracy) {
        GroupReport withRoutingAccuracy(double accuracy) {
            return new GroupReport(name, input, weights, router, signConflict, cosine, accuracy);
        }
    }

    private WeightEnsemblingMoe(Path base, List<Path> experts) {
        this.base = base;
        this.experts = List.copyOf(experts);
    }

    /**
     * A routed merge of {@code experts} (fine-tunes of {@code base}, one graph).
     *
     * @throws InvalidSettingException if there are no experts
     */
    public static WeightEnsemblingMoe of(Path base, List<Path> experts) {
        if (experts.isEmpty()) {
            throw new InvalidSettingException("a routed merge needs at least one expert model besides the base");
        }
        return new WeightEnsemblingMoe(base, experts);
    }

    /**
     * Task arithmetic's λ for the static part (default 0.3, WEMoE's), also the constant routers' coefficient.
     *
     * @throws InvalidSettingException if {@code lambda} is not finite
     */
    public WeightEnsemblingMoe lambda(double lambda) {
        if (!Double.isFinite(lambda)) {
            throw new InvalidSettingException("lambda must be finite, got " + lambda);
        }
        this.lambda = lambda;
        return this;
    }

    /** Takes the weights outside the routed layers from {@code merged} (a merge of the same graph) instead. */
    public WeightEnsemblingMoe staticMerge(Path merged) {
        this.staticMerge = merged;
        return this;
    }

    /**
     * Which dense layers are routed: {@code mlp} (default), {@code all}, or a regular expression over module paths.
     *
     * @throws InvalidSettingException for a malformed regular expression
     */
    public WeightEnsemblingMoe routed(String selection) {
        RoutedLayers.selection(selection);
        this.routed = selection;
        return this;
    }

    /** Where the routers come from (default: {@link RouterSource#constant()}). */
    public WeightEnsemblingMoe routers(RouterSource source) {
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
    public WeightEnsemblingMoe passes(int passes) {
        if (passes < 1) {
            throw new InvalidSettingException("router fitting passes must be 1 or more, got " + passes);
        }
        this.passes = passes;
        return this;
    }

    /** Threads and memory budget of the write. */
    public WeightEnsemblingMoe execution(Execution execution) {
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
                reports = reports.stream().map(g -> g.withRoutingAccuracy(accuracy.getOrDefault(g.name(),
                        Double.NaN))).toList();
            }
            return new Report(target, experts.size(), routers.describe(), reports, written.bytes());
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
            Map<String, Router> made = routers.routers(groups, t, lambda, features);
            GraphEdit edit = GraphEdit.of(m);
            ExpertRouting routing = ExpertRouting.of(edit, MASK);
            Set<String> fromBase = new HashSet<>();
            List<TensorJob> added = new ArrayList<>();
            List<GroupReport> reports = new ArrayList<>();
            for (RoutedLayers.Group g : groups) {
                Router router = made.get(g.name());
                String scope = ExpertRouting.SCOPE + g.name();
                String r = router.addTo(routing, scope, g.input(), g.rank());
                router.tensors(scope).forEach(o -> added.add(new TensorJob(o, 2 * o.byteLength())));
                List<String> weights = new ArrayList<>();
                double conflict = 0;
                double cosine = 0;
                long size = 0;
                for (RoutedLayers.Layer layer : g.layers()) {
                    TensorDiagnostics d = diagnostics(pairs, layer.weight());
                    conflict += d.signConflict() == null ? 0 : d.signConflict() * d.size();
                    cosine += meanCosine(d) * d.size();
                    size += d.size();
                    List<GraphEdit.DenseNode> nodes = edit.denseNodesReading(Set.of(layer.weight()));
                    if (nodes.size() != 1) {
                        throw new UnsupportedModelException(base, layer.weight(), "is read by " + nodes.size()
                                + " dense nodes; a routed layer needs one");
                    }
                    requireFloat(b, layer.weight());
                    requireSame(b, m, layer.weight(), merged);
                    String deltas = ExpertRouting.deltas(layer.weight());
                    String biasDeltas = layer.bias() == null ? null : ExpertRouting.biasDeltas(layer.bias());
                    routing.addRoutedBranch(nodes.get(0), layer.inputRank(), r, t, layer.affine().in(),
                            layer.affine().out(), deltas, biasDeltas, ExpertRouting.SCOPE + layer.modulePath());
                    fromBase.add(layer.weight());
                    added.add(stackedDeltas(pairs, layer, deltas, t));
                    if (layer.bias() != null) {
                        requireSame(b, m, layer.bias(), merged);
                        fromBase.add(layer.bias());
                        added.add(stackedBiasDeltas(pairs, layer, biasDeltas, t));
                    }
                    weights.add(layer.weight());
                }
                reports.add(new GroupReport(g.name(), g.input(), weights, routerForm(router), conflict / size,
                        cosine / size, Double.NaN));
            }
            RewritePlan.Builder plan = RewritePlan.of("wemoe", edit.build());
            opened.subList(0, t + 1).forEach(plan::input);
            plan.parameter("experts", String.valueOf(t)).parameter("lambda", String.valueOf(lambda))
                    .parameter("routed", routed).parameter("routers", routers.describe())
                    .parameter("static", staticMerge == null ? "task_arithmetic" : staticMerge.getFileName().toString())
                    .parameter("groups", String.valueOf(groups.size()));
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

    /** The experts' task vectors of {@code layer}'s weight, each {@code [in, out]}, stacked by rows. */
    private static TensorJob stackedDeltas(MergePlan pairs, RoutedLayers.Layer layer, String name, int experts) {
        int in = layer.affine().in();
        int out = layer.affine().out();
        boolean outIn = layer.affine().outIn();
        List<Weight> sources = pairs.step(layer.weight()).sources();
        long bytes = 4L * in * out * (experts + 2);
        return new TensorJob(OutputTensor.of(name, ElementType.FLOAT, new long[] {(long) experts * in, out}, () -> {
            float[] stacked = new float[experts * in * out];
            float[] w0 = sources.get(0).toFloats();
            for (int t = 0; t < experts; t++) {
                float[] wt = sources.get(t + 1).toFloats();
                int at = t * in * out;
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) {
                        int k = outIn ? o * in + i : i * out + o;
                        stacked[at + i * out + o] = wt[k] - w0[k];
                    }
                }
            }
            return stacked;
        }), bytes);
    }

    /** The experts' bias updates of {@code layer}, {@code [experts, out]}. */
    private static TensorJob stackedBiasDeltas(MergePlan pairs, RoutedLayers.Layer layer, String name, int experts) {
        int out = layer.affine().out();
        List<Weight> sources = pairs.step(layer.bias()).sources();
        return new TensorJob(OutputTensor.of(name, ElementType.FLOAT, new long[] {experts, out}, () -> {
            float[] stacked = new float[experts * out];
            float[] b0 = sources.get(0).toFloats();
            for (int t = 0; t < experts; t++) {
                float[] bt = sources.get(t + 1).toFloats();
                for (int o = 0; o < out; o++) {
                    stacked[t * out + o] = bt[o] - b0[o];
                }
            }
            return stacked;
        }), 4L * out * (experts + 2));
    }

    private static void requireFloat(OnnxModel model, String weight) {
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
            return (p.normalized() ? "prototype" : "logistic") + " posterior ×" + p.scale();
        }
        Router.Mlp m = (Router.Mlp) r;
        return m.hidden() > 0 ? "MLP (" + m.hidden() + " hidden)" : "linear";
    }
}
