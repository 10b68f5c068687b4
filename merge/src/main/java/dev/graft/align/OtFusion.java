package dev.graft.align;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
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
 * default; {@link #activations} takes the cost from activations on data instead. Non-uniform marginals and groups
 * nested in heads are not built yet (refused).
 */
public final class OtFusion {
    /** How plans are solved. */
    public enum Solver {
        /** Exact optimal transport ({@link TransportPlan#exact}). */
        EXACT,
        /** Entropic optimal transport ({@link TransportPlan#sinkhorn}). */
        SINKHORN
    }

    private final Path a;
    private final Path b;
    private dev.graft.data.Calibration activations;
    private boolean targetA;
    private Solver solver = Solver.EXACT;
    private double epsilon = 0.01;
    private double weight = 0.5;

    /** What was fused: each group's widths, its plan's entropy and the largest mass any target unit receives. */
    public record Report(Path target, String targetModel, Solver solver, List<GroupReport> groups) {
    }

    /**
     * One group: its name (in the target), A's and the target's widths, the plan's entropy (a permutation of n
     * units: log n) and the share of A's units that send all their mass to one target unit.
     */
    public record GroupReport(String name, int widthA, int widthTarget, double entropy, double sharpShare) {
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
     * Writes the fused model to {@code out}.
     *
     * @throws IncompatibleModelsException naming the files and tensor if the models are not one architecture
     * @throws UnsupportedModelException naming the file if a group is nested (attention heads)
     */
    public Report writeTo(Path out) {
        Path source = targetA ? b : a;
        Path target = targetA ? a : b;
        PermutationSpec sourceSpec = Alignment.spec(source, false, ProbeOptions.defaults());
        PermutationSpec targetSpec = Alignment.spec(target, false, ProbeOptions.defaults());
        try (OnnxModel from = OnnxModel.open(source); OnnxModel to = OnnxModel.open(target)) {
            Map<String, Integer> groupOf = pairGroups(sourceSpec, targetSpec, from, to);
            List<PermutationSpec.Group> groups = targetSpec.groups();
            Map<String, float[]> values = new HashMap<>();
            for (Weight w : from.initializers()) {
                values.put(w.name(), w.toFloats());
            }
            Map<String, List<PermutationSpec.PermutedAxis>> axes = targetSpec.byWeight();
            double[][] maps = new double[groups.size()][];
            int[] widthFrom = new int[groups.size()];
            List<GroupReport> reports = new ArrayList<>();
            Map<Integer, float[][]> unitsFrom = activations == null ? Map.of()
                    : unitActivations(source, sourceSpec, activations);
            Map<Integer, float[][]> unitsTo = activations == null ? Map.of()
                    : unitActivations(target, targetSpec, activations);
            for (int g : order(targetSpec, to)) {
                PermutationSpec.Group group = groups.get(g);
                int nt = group.size();
                int ns = sourceSpec.groups().get(groupOf.get(group.name())).size();
                widthFrom[g] = ns;
                double[] cost = new double[ns * nt];
                if (activations != null) {
                    float[][] x = unitsFrom.get(groupOf.get(group.name()));
                    float[][] y = unitsTo.get(g);
                    if (x == null || y == null) {
                        throw new UnsupportedModelException(target, group.members().get(0).weight(), "is in group "
                                + group.name() + ", which no value of the graph shows (a layer's input); fuse with "
                                + "the weight cost");
                    }
                    addDistances(cost, x, y);
                }
                for (PermutationSpec.Member m : activations != null ? List.<PermutationSpec.Member>of()
                        : group.members()) {
                    Weight tw = to.weight(m.weight()).orElseThrow();
                    long[] shape = from.weight(m.weight()).orElseThrow().shape();
                    float[] carried = carry(values.get(m.weight()), shape, axes.get(m.weight()), maps, widthFrom, g,
                            m.axis());
                    if (carried == null) {
                        continue; // another axis of this weight has no plan yet
                    }
                    addDistances(cost, carried, tw.toFloats(), tw.shape(), m.axis(), ns, nt);
                }
                for (int k = 0; k < cost.length; k++) {
                    cost[k] = Math.sqrt(cost[k]);
                }
                double[] plan = solver == Solver.EXACT ? TransportPlan.exact(cost, ns, nt)
                        : TransportPlan.sinkhorn(cost, ns, nt, epsilon, 1000);
                maps[g] = targetMap(plan, ns, nt);
                reports.add(new GroupReport(group.name(), ns, nt, TransportPlan.entropy(plan), sharpShare(plan, ns,
                        nt)));
            }
            RewritePlan.Builder write = RewritePlan.of("ot-fusion", to.proto()).input(from).input(to)
                    .parameter("target", target.getFileName().toString())
                    .parameter("solver", solver.name().toLowerCase(java.util.Locale.ROOT))
                    .parameter("weight", String.valueOf(weight))
                    .parameter("cost", activations == null ? "weights" : "activations on " + activations.source());
            if (solver == Solver.SINKHORN) {
                write.parameter("regularization", String.valueOf(epsilon));
            }
            for (Weight tw : to.initializers()) {
                if (!tw.type().isFloatingPoint()) {
                    write.copy(tw);
                    continue;
                }
                write.compute(OutputTensor.like(tw, tw.type(), () -> {
                    float[] carried = carryAll(values.get(tw.name()), from.weight(tw.name()).orElseThrow().shape(),
                            axes.get(tw.name()), maps, widthFrom);
                    float[] mine = tw.toFloats();
                    float[] fused = new float[mine.length];
                    for (int k = 0; k < fused.length; k++) {
                        fused[k] = (float) ((1 - weight) * carried[k] + weight * mine[k]);
                    }
                    return fused;
                }), tw.elementCount() * 16);
            }
            Rewriter.write(write.build(), out, Execution.defaults());
            return new Report(out, target.getFileName().toString(), solver, reports);
        }
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
                    tw.name(), "is missing; OTFusion fuses models of one architecture (" + to.file() + " has it)"));
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
            if (g.nested() || g.members().stream().anyMatch(m -> m.factors() > 1)) {
                throw new UnsupportedModelException(to.file(), g.members().get(0).weight(), "is in group " + g.name()
                        + ", nested in attention heads; OTFusion handles groups of whole units (MLP hidden units, "
                        + "CNN channels) for now");
            }
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
        g.members().forEach(m -> members.add(m.weight() + "[" + m.axis() + "]"));
        return String.join(",", members);
    }

    /** The target's groups in graph order: by the first initializer (in graph order) that belongs to each. */
    private static List<Integer> order(PermutationSpec spec, OnnxModel model) {
        List<String> names = dev.graft.index.GraphIndex.of(model).weightsInGraphOrder().stream()
                .map(dev.graft.index.IndexedWeight::name).toList();
        List<Integer> groups = new ArrayList<>();
        for (int g = 0; g < spec.groups().size(); g++) {
            groups.add(g);
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

    /**
     * The source's {@code values} (of {@code shape}) carried into the target's units on every grouped axis but
     * {@code skip}; null if such an axis's group has no plan yet.
     */
    private static float[] carry(float[] values, long[] shape, List<PermutationSpec.PermutedAxis> axes,
                                 double[][] maps, int[] widthFrom, int group, int skip) {
        float[] v = values;
        long[] s = shape.clone();
        for (PermutationSpec.PermutedAxis p : axes == null ? List.<PermutationSpec.PermutedAxis>of() : axes) {
            int g = p.factors().get(0).group();
            if (p.axis() == skip || g < 0) {
                continue;
            }
            if (maps[g] == null) {
                return null;
            }
            v = applyOnAxis(v, s, p.axis(), maps[g], widthFrom[g], (int) (maps[g].length / widthFrom[g]));
        }
        return v;
    }

    /** The source's {@code values} carried into the target's units on every grouped axis. */
    private static float[] carryAll(float[] values, long[] shape, List<PermutationSpec.PermutedAxis> axes,
                                    double[][] maps, int[] widthFrom) {
        return carry(values, shape, axes, maps, widthFrom, -1, -1);
    }

    /**
     * {@code values} of {@code shape} with axis {@code axis} (length {@code from}) mapped by {@code map}
     * ({@code [to, from]}) to length {@code to}; {@code shape} is updated.
     */
    private static float[] applyOnAxis(float[] values, long[] shape, int axis, double[] map, int from, int to) {
        int outer = product(shape, 0, axis);
        int inner = product(shape, axis + 1, shape.length);
        float[] out = new float[outer * to * inner];
        for (int o = 0; o < outer; o++) {
            for (int j = 0; j < to; j++) {
                for (int i = 0; i < from; i++) {
                    double m = map[j * from + i];
                    if (m == 0) {
                        continue;
                    }
                    int src = (o * from + i) * inner;
                    int dst = (o * to + j) * inner;
                    for (int k = 0; k < inner; k++) {
                        out[dst + k] += (float) (m * values[src + k]);
                    }
                }
            }
        }
        shape[axis] = to;
        return out;
    }

    /** Adds the squared distances between source unit i's and target unit j's slices along {@code axis}. */
    private static void addDistances(double[] cost, float[] source, float[] target, long[] shape, int axis, int ns,
                                     int nt) {
        int outer = product(shape, 0, axis);
        int inner = product(shape, axis + 1, shape.length);
        for (int i = 0; i < ns; i++) {
            for (int j = 0; j < nt; j++) {
                double sum = 0;
                for (int o = 0; o < outer; o++) {
                    int si = (o * ns + i) * inner;
                    int tj = (o * nt + j) * inner;
                    for (int k = 0; k < inner; k++) {
                        double d = source[si + k] - target[tj + k];
                        sum += d * d;
                    }
                }
                cost[i * nt + j] += sum;
            }
        }
    }

    /**
     * For each group of {@code spec} observed in a value of {@code model} with an axis of its own, each unit's values
     * there over {@code data} ({@code [units][samples × other positions]}), from the first such value.
     */
    private static Map<Integer, float[][]> unitActivations(Path model, PermutationSpec spec,
                                                           dev.graft.data.Calibration data) {
        Map<Integer, PermutationSpec.Probe> probeOf = new LinkedHashMap<>();
        Map<Integer, Integer> axisOf = new HashMap<>();
        for (PermutationSpec.Probe p : spec.probes()) {
            for (int axis = 0; axis < p.axes().size(); axis++) {
                List<PermutationSpec.Factor> f = p.axes().get(axis);
                if (f.size() == 1 && f.get(0).group() >= 0 && !probeOf.containsKey(f.get(0).group())) {
                    probeOf.put(f.get(0).group(), p);
                    axisOf.put(f.get(0).group(), axis);
                }
            }
        }
        Map<Integer, List<float[]>> chunks = new HashMap<>();
        java.util.Set<String> values = new java.util.LinkedHashSet<>();
        probeOf.values().forEach(p -> values.add(p.value()));
        try (dev.graft.data.Activations runs = dev.graft.data.Activations.of(model, values)) {
            runs.run(data, batch -> probeOf.forEach((g, p) -> {
                var o = batch.output(0, p.value());
                long[] shape = o.shape().clone();
                int axis = axisOf.get(g);
                int units = (int) shape[axis];
                int outer = product(shape, 0, axis);
                int inner = product(shape, axis + 1, shape.length);
                float[] v = o.values();
                float[] byUnit = new float[v.length];
                int per = outer * inner;
                for (int a = 0; a < outer; a++) {
                    for (int u = 0; u < units; u++) {
                        System.arraycopy(v, (a * units + u) * inner, byUnit, u * per + a * inner, inner);
                    }
                }
                chunks.computeIfAbsent(g, k -> new ArrayList<>()).add(byUnit);
            }), dev.graft.exec.ProgressListener.NONE, "ot-activations");
        }
        Map<Integer, float[][]> out = new HashMap<>();
        chunks.forEach((g, list) -> {
            int units = spec.groups().get(g).size();
            int total = list.stream().mapToInt(c -> c.length / units).sum();
            float[][] rows = new float[units][total];
            int at = 0;
            for (float[] c : list) {
                int per = c.length / units;
                for (int u = 0; u < units; u++) {
                    System.arraycopy(c, u * per, rows[u], at, per);
                }
                at += per;
            }
            out.put(g, rows);
        });
        return out;
    }

    /** Adds the squared distances between the source's unit rows {@code x} and the target's {@code y}. */
    private static void addDistances(double[] cost, float[][] x, float[][] y) {
        int nt = y.length;
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < nt; j++) {
                double sum = 0;
                for (int k = 0; k < x[i].length; k++) {
                    double d = x[i][k] - y[j][k];
                    sum += d * d;
                }
                cost[i * nt + j] += sum;
            }
        }
    }

    /** The product of {@code shape[from]} to {@code shape[to - 1]}. */
    private static int product(long[] shape, int from, int to) {
        int p = 1;
        for (int d = from; d < to; d++) {
            p *= (int) shape[d];
        }
        return p;
    }

    /** {@code M = diag(1/β)·Tᵀ} ({@code [nt, ns]}): each target unit's mass-weighted mean of the source's units. */
    private static double[] targetMap(double[] plan, int ns, int nt) {
        double[] m = new double[nt * ns];
        for (int j = 0; j < nt; j++) {
            double beta = 0;
            for (int i = 0; i < ns; i++) {
                beta += plan[i * nt + j];
            }
            for (int i = 0; i < ns; i++) {
                m[j * ns + i] = beta == 0 ? 0 : plan[i * nt + j] / beta;
            }
        }
        return m;
    }

    /** The share of source units whose mass goes (within 1e-6) to a single target unit. */
    private static double sharpShare(double[] plan, int ns, int nt) {
        int sharp = 0;
        for (int i = 0; i < ns; i++) {
            double row = 0;
            double max = 0;
            for (int j = 0; j < nt; j++) {
                row += plan[i * nt + j];
                max = Math.max(max, plan[i * nt + j]);
            }
            sharp += max >= row - 1e-6 ? 1 : 0;
        }
        return ns == 0 ? 0 : sharp / (double) ns;
    }
}
