package dev.graft.align;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.Threads;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * OTFusion (Singh and Jaggi, "Model Fusion via Optimal Transport", NeurIPS 2020): two models of one architecture whose
 * hidden widths may differ, fused in the widths of one of them (the target, B by default). Group by group, in graph
 * order (Graft's permutation groups, {@link PermutationInference}: a group is the units that every weight touching
 * them must permute alike), a transport plan {@code T} ({@code [a, b]}, {@link TransportPlan}) between A's units and
 * the target's is found from a ground cost on weights: the Euclidean distance between a unit's slices of every weight
 * of the group, A's slices first carried into the target's units on every other axis whose group already has a plan
 * (the reference's "previous layer's plan carried into the incoming weights"; a weight with an axis whose group has
 * no plan yet is left out of that cost). A's weights are then carried into the target's widths by
 * {@code M = diag(1/β)·Tᵀ} on each grouped axis ({@code β} the target's marginal: each target unit gets the
 * mass-weighted mean of the A units sent to it) and fused: {@code (1 − s)·M(A) + s·B}, {@code s} = {@link #weight}
 * (0.5). The result is the target's graph with the fused weights. With equal widths and the exact solver every plan
 * is a permutation, and OTFusion is permutation alignment (by this cost) followed by averaging. Data-free by
 * default; {@link #activations} takes the cost from activations on data instead.
 *
 * <p>Attention heads (Imfeld et al., "Transformer Fusion with Optimal Transport", ICLR 2024, fuse heads as blocks):
 * a group nested in another (each head's dimensions, permuted within each head) is planned with its parent. For each
 * pair of parent units {@code (i, j)}, the nested units of {@code i} and {@code j} get their own plan, and the
 * parent's cost of {@code (i, j)} is the distance between the two whole blocks once so matched; the parent's plan
 * then decides which blocks mix, and a nested axis is carried by {@code M_parent[j, i]·M_ij}. Attention key biases
 * are left out of the costs (softmax cancels them; see {@link WeightMatching}). With {@link #permuteOutputs} the
 * residual stream is a group as well, so transformers trained from different starts can be fused. The activation
 * cost applies to groups a layer's input shows on their own; heads are planned by weights either way. The ground
 * cost is Euclidean (the reference's) or cosine ({@link #distance}); marginals are uniform, or the units' activation
 * masses ({@link #activationMass}).
 */
public final class OtFusion {
    /** How plans are solved. */
    public enum Solver {
        /** Exact optimal transport ({@link TransportPlan#exact}). */
        EXACT,
        /** Entropic optimal transport ({@link TransportPlan#sinkhorn}). */
        SINKHORN,
        /**
         * No transport: unit {@code i} to unit {@code i} (equal widths; otherwise mass spread evenly), so the fusion
         * is the naive average: the baseline that shows what the plans add.
         */
        NONE
    }

    /** The ground cost between two units' descriptions (weights or activations). */
    public enum Distance {
        /** {@code ‖x − y‖}, the reference's. */
        EUCLIDEAN,
        /** {@code 1 − cos(x, y)}: ignores the units' scales. */
        COSINE
    }

    private final Path a;
    private final Path b;
    private dev.graft.data.Calibration activations;
    private boolean targetA;
    private Solver solver = Solver.EXACT;
    private double epsilon = 0.01;
    private double weight = 0.5;
    private boolean permuteOutputs;
    private Set<String> own = Set.of();
    private Set<String> fixed = Set.of();
    private Distance distance = Distance.EUCLIDEAN;
    private dev.graft.data.Calibration masses;

    /** What was fused: the target, the solver, and each group's plan ({@link GroupReport}). */
    public record Report(Path target, String targetModel, Solver solver, List<GroupReport> groups) {
    }

    /**
     * One group: its name (in the target), A's and the target's widths, the plan's entropy (a permutation of n
     * units: log n), the share of A's units that send all their mass to one target unit, and the transport cost
     * {@code Σ Tᵢⱼ·Cᵢⱼ} (the mean distance of matched units; for a group with nested ones, of whole blocks; for a
     * nested group, the parent's plan's mean over its pairs), and the mass each target unit receives, relative to an
     * even share (1 for every unit with uniform marginals; a nested group's units per parent unit, row-major).
     */
    public record GroupReport(String name, int widthA, int widthTarget, double entropy, double sharpShare,
                              double cost, double[] mass) {
        /** The smallest and largest relative mass a target unit receives. */
        public double[] massRange() {
            return new double[] {java.util.Arrays.stream(mass).min().orElse(0),
                java.util.Arrays.stream(mass).max().orElse(0)};
        }
    }

    private OtFusion(Path a, Path b) {
        this.a = a;
        this.b = b;
    }

    /** The fusion of models {@code a} and {@code b} (one architecture, widths may differ), in B's widths. */
    public static OtFusion of(Path a, Path b) {
        return new OtFusion(a, b);
    }

    /** Fuses in A's widths instead (A becomes the target, B is carried into it). */
    public OtFusion intoA() {
        this.targetA = true;
        return this;
    }

    /**
     * Ground costs from activations instead of weights: the Euclidean distance between two units' values at a value
     * where their group is observed (a dense or convolution layer's input, {@link PermutationSpec#probes}), over
     * {@code data}'s samples (and positions). Each model is run on its own; the plans still carry the weights.
     */
    public OtFusion activations(dev.graft.data.Calibration data) {
        this.activations = data;
        return this;
    }

    /** The ground cost (default {@link Distance#EUCLIDEAN}). */
    public OtFusion distance(Distance distance) {
        this.distance = distance;
        return this;
    }

    /**
     * Activation-mass marginals instead of uniform ones: each unit's mass is its mean absolute activation on
     * {@code data} (where its group is observed, as for {@link #activations}; floored at 1e-3 of the mean so that no
     * unit is dropped), normalised per model, so busier units carry and receive more. Groups no layer's input
     * shows (attention heads) keep uniform marginals. Exact plans are then minimum-cost flows
     * ({@link TransportPlan#exact(double[], double[], double[])}), slower than the assignments of uniform marginals.
     */
    public OtFusion activationMass(dev.graft.data.Calibration data) {
        this.masses = data;
        return this;
    }

    /** The solver (default exact). */
    public OtFusion solver(Solver solver) {
        this.solver = solver;
        return this;
    }

    /**
     * The Sinkhorn regulariser, relative to the largest cost (default 0.01).
     *
     * @throws InvalidSettingException if not positive
     */
    public OtFusion regularization(double epsilon) {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new InvalidSettingException("the Sinkhorn regulariser must be positive, got " + epsilon);
        }
        this.epsilon = epsilon;
        return this;
    }

    /**
     * The target's share {@code s} in {@code (1 − s)·M(other) + s·target} (default 0.5).
     *
     * @throws InvalidSettingException if not in [0, 1]
     */
    public OtFusion weight(double s) {
        if (!(s >= 0 && s <= 1)) {
            throw new InvalidSettingException("the fusion weight must be in [0, 1], got " + s);
        }
        this.weight = s;
        return this;
    }

    /**
     * Lets groups reach the graph's outputs (default false): the residual stream of a transformer is then a group
     * too, and the fused model's outputs are in the target's coordinates. Needed for models trained from different
     * starts whose outputs are embeddings (a classifier's classes must stay fixed: leave it off).
     */
    public OtFusion permuteOutputs(boolean on) {
        this.permuteOutputs = on;
        return this;
    }

    /**
     * Source weights that already hold the target's units (CLAFusion's identity layers, made from the target's own
     * weights): not carried, and left out of the costs; a group of which every member is one keeps its units (by
     * weights or by activations).
     */
    OtFusion ownWeights(Set<String> names) {
        this.own = Set.copyOf(names);
        return this;
    }

    /**
     * Groups (by name in the target) whose units the two models share, kept by the identity plan: the residual stream
     * when two layers of one model are merged.
     */
    OtFusion fixedGroups(Set<String> names) {
        this.fixed = Set.copyOf(names);
        return this;
    }

    /**
     * Writes the fused model to {@code out}.
     *
     * @throws IncompatibleModelsException naming the files and tensor if the models are not one architecture
     */
    public Report writeTo(Path out) {
        return fuse(out);
    }

    /** The plans, as {@link #writeTo} reports them, without writing a model (the report's target is null). */
    Report plan() {
        return fuse(null);
    }

    private Report fuse(Path out) {
        if (masses != null && solver == Solver.NONE) {
            throw new InvalidSettingException("activation-mass marginals need a transport solver (exact or "
                    + "Sinkhorn), not none");
        }
        Path source = targetA ? b : a;
        Path target = targetA ? a : b;
        PermutationSpec sourceSpec = Alignment.spec(source, permuteOutputs, ProbeOptions.defaults());
        PermutationSpec targetSpec = Alignment.spec(target, permuteOutputs, ProbeOptions.defaults());
        try (OnnxModel from = OnnxModel.open(source); OnnxModel to = OnnxModel.open(target);
             MatrixProducts products = new MatrixProducts(Threads.workers())) {
            Map<String, Integer> groupOf = pairGroups(sourceSpec, targetSpec, from, to);
            Map<String, float[]> values = new HashMap<>();
            for (Weight w : from.initializers()) {
                if (w.type().isFloatingPoint()) {
                    values.put(w.name(), w.toFloats());
                }
            }
            UnitActivations observed = activations == null ? null : UnitActivations.of(source, sourceSpec, target,
                    targetSpec, groupOf, activations, products);
            UnitActivations busy = masses == null ? null : masses == activations ? observed
                    : UnitActivations.of(source, sourceSpec, target, targetSpec, groupOf, masses, products);
            FusionPlanner planner = new FusionPlanner(from, to, sourceSpec, targetSpec, groupOf, values, products,
                    WeightMatching.attentionKeyBiases(to), new FusionPlanner.Settings(solver, epsilon, distance, own,
                    activations != null, fixed));
            for (int g : order(targetSpec, to)) {
                double[] mx = busy == null ? null : mass(busy.massFrom().get(g));
                double[] my = busy == null ? null : mass(busy.massTo().get(g));
                planner.plan(g, observed == null ? null : observed.products().get(g), mx == null || my == null ? null
                        : mx, mx == null || my == null ? null : my);
            }
            if (out == null) {
                return new Report(null, target.getFileName().toString(), solver, planner.reports);
            }
            RewritePlan.Builder write = RewritePlan.of("ot-fusion", to.proto()).input(from).input(to)
                    .parameter("target", target.getFileName().toString())
                    .parameter("solver", solver.name().toLowerCase(java.util.Locale.ROOT))
                    .parameter("weight", String.valueOf(weight))
                    .parameter("permute_outputs", String.valueOf(permuteOutputs))
                    .parameter("distance", distance.name().toLowerCase(java.util.Locale.ROOT))
                    .parameter("marginals", masses == null ? "uniform" : "activation mass on " + masses.source())
                    .parameter("cost", activations == null ? "weights" : "activations on " + activations.source());
            if (solver == Solver.SINKHORN) {
                write.parameter("regularization", String.valueOf(epsilon));
            }
            Map<String, List<PermutationSpec.PermutedAxis>> axes = targetSpec.byWeight();
            UnitMaps maps = planner.maps;
            for (Weight tw : to.initializers()) {
                if (!tw.type().isFloatingPoint()) {
                    write.copy(tw);
                    continue;
                }
                write.compute(OutputTensor.like(tw, tw.type(), () -> {
                    float[] carried = own.contains(tw.name()) ? values.get(tw.name())
                            : maps.carry(values.get(tw.name()), from.weight(tw.name()).orElseThrow().shape(),
                                    axes.get(tw.name()), -1);
                    float[] mine = tw.toFloats();
                    float[] fused = new float[mine.length];
                    for (int k = 0; k < fused.length; k++) {
                        fused[k] = (float) ((1 - weight) * carried[k] + weight * mine[k]);
                    }
                    return fused;
                }), tw.elementCount() * 16);
            }
            Rewriter.write(write.build(), out, Execution.defaults());
            return new Report(out, target.getFileName().toString(), solver, planner.reports);
        }
    }

    /** Each unit's mean absolute activation, floored at 1e-3 of their mean, normalised to sum 1; null for none. */
    private static double[] mass(double[] sums) {
        if (sums == null) {
            return null;
        }
        double[] m = sums.clone();
        double total = java.util.Arrays.stream(m).sum();
        if (total == 0) {
            return null; // nothing ever active: uniform
        }
        double floor = 1e-3 * total / m.length;
        double sum = 0;
        for (int u = 0; u < m.length; u++) {
            m[u] = Math.max(m[u], floor);
            sum += m[u];
        }
        for (int u = 0; u < m.length; u++) {
            m[u] /= sum;
        }
        return m;
    }

    /**
     * For each of the target's groups, the index of the source's group with the same members (weights and axes).
     *
     * @throws IncompatibleModelsException if the weights or groups do not correspond
     */
    private Map<String, Integer> pairGroups(PermutationSpec source, PermutationSpec target, OnnxModel from,
                                            OnnxModel to) {
        for (Weight tw : to.initializers()) {
            if (!tw.type().isFloatingPoint()) {
                continue; // buffers (position ids, shapes) are the target's, as written
            }
            Weight sw = from.weight(tw.name()).orElseThrow(() -> new IncompatibleModelsException(from.file(),
                    tw.name(), "is missing; OTFusion fuses models of one architecture (" + to.file() + " has it); "
                    + "models of different depths fuse by CLAFusion"));
            if (sw.shape().length != tw.shape().length) {
                throw new IncompatibleModelsException(from.file(), tw.name(), "has rank " + sw.shape().length
                        + " but " + to.file() + " has " + tw.shape().length);
            }
        }
        Map<String, Integer> byMembers = new HashMap<>();
        for (int g = 0; g < source.groups().size(); g++) {
            byMembers.put(key(source.groups().get(g)), g);
        }
        Map<String, Integer> out = new LinkedHashMap<>();
        for (PermutationSpec.Group g : target.groups()) {
            Integer s = byMembers.get(key(g));
            if (s == null) {
                throw new IncompatibleModelsException(from.file(), g.members().get(0).weight(), "has no group "
                        + "permuting " + g.members() + " as " + to.file() + "'s group " + g.name() + " does");
            }
            out.put(g.name(), s);
        }
        for (Weight tw : to.initializers()) {
            if (!tw.type().isFloatingPoint()) {
                continue;
            }
            long[] ts = tw.shape();
            long[] ss = from.weight(tw.name()).orElseThrow().shape();
            List<PermutationSpec.PermutedAxis> grouped = target.byWeight().getOrDefault(tw.name(), List.of());
            for (int d = 0; d < ts.length; d++) {
                int axis = d;
                if (ts[d] != ss[d] && grouped.stream().noneMatch(p -> p.axis() == axis)) {
                    throw new IncompatibleModelsException(from.file(), tw.name(), "is " + Arrays.toString(ss)
                            + " but " + to.file() + "'s is " + Arrays.toString(ts) + ": axis " + d + " differs and no "
                            + "group of hidden units covers it");
                }
            }
        }
        return out;
    }

    private static String key(PermutationSpec.Group g) {
        TreeSet<String> members = new TreeSet<>();
        g.members().forEach(m -> members.add(m.weight() + "[" + m.axis() + "]" + m.factor()));
        return String.join(",", members);
    }

    /** The target's top-level groups in graph order: by the first initializer (in graph order) that belongs to each. */
    private static List<Integer> order(PermutationSpec spec, OnnxModel model) {
        List<String> names = dev.graft.index.GraphIndex.of(model).weightsInGraphOrder().stream()
                .map(dev.graft.index.IndexedWeight::name).toList();
        List<Integer> groups = new ArrayList<>();
        for (int g = 0; g < spec.groups().size(); g++) {
            if (!spec.groups().get(g).nested()) {
                groups.add(g);
            }
        }
        groups.sort((x, y) -> Integer.compare(first(spec.groups().get(x), names), first(spec.groups().get(y), names)));
        return groups;
    }

    private static int first(PermutationSpec.Group g, List<String> names) {
        return g.members().stream().mapToInt(m -> {
            int i = names.indexOf(m.weight());
            return i < 0 ? Integer.MAX_VALUE : i;
        }).min().orElse(Integer.MAX_VALUE);
    }

}
