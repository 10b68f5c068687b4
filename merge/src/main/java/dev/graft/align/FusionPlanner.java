package dev.graft.align;

import dev.graft.UnsupportedModelException;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * OTFusion's plans, group by group in graph order ({@link OtFusion}): for each of the target's top-level groups, the
 * ground cost between the source's units and the target's (their weights, carried on every other axis by the maps
 * found so far, or their activations), the groups nested in it planned per pair of its units, then the plan and the
 * maps it makes ({@link UnitMaps}), with a report per group.
 */
final class FusionPlanner {
    /**
     * How plans are made: the solver and its regulariser, the ground cost, the source weights already in the
     * target's units (left out of the costs), whether the cost is from activations, and the groups whose units stay
     * as they are (the identity plan: the two models share those units).
     */
    record Settings(OtFusion.Solver solver, double epsilon, OtFusion.Distance distance, Set<String> own,
                    boolean activationCost, Set<String> fixed) {
    }

    final UnitMaps maps;
    final List<OtFusion.GroupReport> reports = new ArrayList<>();
    private final OnnxModel from;
    private final OnnxModel to;
    private final PermutationSpec sourceSpec;
    private final PermutationSpec targetSpec;
    private final Map<String, Integer> groupOf;
    private final Map<String, float[]> values;
    private final Map<String, List<PermutationSpec.PermutedAxis>> axes;
    private final MatrixProducts products;
    private final java.util.function.Predicate<String> leftOut;
    private final Settings settings;

    FusionPlanner(OnnxModel from, OnnxModel to, PermutationSpec sourceSpec, PermutationSpec targetSpec,
                  Map<String, Integer> groupOf, Map<String, float[]> values, MatrixProducts products,
                  java.util.function.Predicate<String> keyBiases, Settings settings) {
        this.from = from;
        this.to = to;
        this.sourceSpec = sourceSpec;
        this.targetSpec = targetSpec;
        this.groupOf = groupOf;
        this.values = values;
        this.products = products;
        this.axes = targetSpec.byWeight();
        this.maps = new UnitMaps(targetSpec);
        this.settings = settings;
        this.leftOut = name -> settings.own().contains(name) || keyBiases.test(name);
    }

    private int sourceWidth(int g) {
        return sourceSpec.groups().get(groupOf.get(targetSpec.groups().get(g).name())).size();
    }

    /**
     * Plans top-level group {@code g} and the groups nested in it: dot products and norms of the units (their
     * activations' where {@code observed} is given), each pair of units' nested blocks matched first and
     * their products added (a head's cost is the distance between whole heads once their dimensions are
     * matched), then the plan on the distances, with the units' masses {@code massX} and {@code massY} as
     * marginals where given.
     */
    void plan(int g, UnitProducts observed, double[] massX, double[] massY) {
        PermutationSpec.Group group = targetSpec.groups().get(g);
        int nt = group.size();
        int ns = sourceWidth(g);
        List<Integer> children = new ArrayList<>();
        for (int c = 0; c < targetSpec.groups().size(); c++) {
            if (targetSpec.groups().get(c).parent() == g) {
                children.add(c);
            }
        }
        boolean fixed = settings.fixed().contains(group.name())
                || group.members().stream().allMatch(m -> settings.own().contains(m.weight()));
        boolean byActivations = !fixed && observed != null && children.isEmpty();
        UnitProducts direct = byActivations ? observed : new UnitProducts(ns, nt);
        boolean informed = byActivations;
        if (!fixed && !byActivations && settings.activationCost() && children.isEmpty()) {
            throw new UnsupportedModelException(to.file(), group.members().get(0).weight(), "is in group "
                    + group.name() + ", which no value of the graph shows (a layer's input); fuse with the "
                    + "weight cost");
        }
        if (!fixed && !byActivations) { // a fixed group (and the groups nested in it) gets the identity plan
            for (PermutationSpec.Member m : group.members()) {
                PermutationSpec.PermutedAxis axis = axisOf(m);
                boolean covered = m.factor() + 1 < axis.factors().size()
                        && children.contains(axis.factors().get(m.factor() + 1).group());
                if (!covered) {
                    informed |= addMember(direct, m, axis, m.factor());
                }
            }
        }
        double[][][] blocks = new double[children.size()][][];
        double[][] blockCosts = new double[children.size()][ns * nt];
        for (int ci = 0; ci < children.size(); ci++) {
            int c = children.get(ci);
            int st = targetSpec.groups().get(c).size();
            int ss = sourceSpec.groups().get(groupOf.get(targetSpec.groups().get(c).name())).size();
            UnitProducts joint = new UnitProducts(ns * ss, nt * st);
            boolean any = false;
            for (PermutationSpec.Member m : targetSpec.groups().get(c).members()) {
                any |= !fixed && addMember(joint, m, axisOf(m), m.factor() - 1);
            }
            informed |= any;
            blocks[ci] = new double[ns * nt][];
            double[] cost = joint.cost(settings.distance());
            double[] block = new double[ss * st];
            for (int i = 0; i < ns; i++) {
                for (int j = 0; j < nt; j++) {
                    for (int r = 0; r < ss; r++) {
                        System.arraycopy(cost, (i * ss + r) * nt * st + j * st, block, r * st, st);
                    }
                    double[] p = any ? solve(block, ss, st, null, null) : identity(ss, st);
                    blocks[ci][i * nt + j] = p;
                    blockCosts[ci][i * nt + j] = transported(p, block);
                    double dot = 0;
                    for (int r = 0; r < ss; r++) {
                        for (int q = 0; q < st; q++) {
                            dot += p[r * st + q] * joint.dots[(i * ss + r) * nt * st + j * st + q];
                        }
                    }
                    direct.dots[i * nt + j] += ss * dot;
                }
            }
            for (int i = 0; i < ns * ss; i++) {
                direct.normsX[i / ss] += joint.normsX[i];
            }
            for (int j = 0; j < nt * st; j++) {
                direct.normsY[j / st] += joint.normsY[j] * ss / st;
            }
        }
        double[] cost = direct.cost(settings.distance());
        double[] plan = informed ? solve(cost, ns, nt, massX, massY) : identity(ns, nt);
        double[] top = targetMap(plan, ns, nt);
        maps.set(g, top, ns);
        double[] received = new double[nt];
        for (int i = 0; i < ns; i++) {
            for (int j = 0; j < nt; j++) {
                received[j] += plan[i * nt + j] * nt;
            }
        }
        reports.add(new OtFusion.GroupReport(group.name(), ns, nt, TransportPlan.entropy(plan), sharpShare(plan, ns, nt),
                transported(plan, cost), received));
        for (int ci = 0; ci < children.size(); ci++) {
            int c = children.get(ci);
            int st = targetSpec.groups().get(c).size();
            int ss = sourceSpec.groups().get(groupOf.get(targetSpec.groups().get(c).name())).size();
            double[][] nestedMaps = new double[nt * ns][];
            double entropy = 0;
            double sharp = 0;
            double moved = 0;
            double[] nestedReceived = new double[nt * st];
            for (int i = 0; i < ns; i++) {
                for (int j = 0; j < nt; j++) {
                    if (plan[i * nt + j] > 0) {
                        double[] p = blocks[ci][i * nt + j];
                        nestedMaps[j * ns + i] = targetMap(p, ss, st);
                        entropy += plan[i * nt + j] * TransportPlan.entropy(p);
                        sharp += plan[i * nt + j] * sharpShare(p, ss, st);
                        moved += plan[i * nt + j] * blockCosts[ci][i * nt + j];
                        for (int a = 0; a < ss; a++) {
                            for (int q = 0; q < st; q++) {
                                nestedReceived[j * st + q] += plan[i * nt + j] * p[a * st + q] * nt * st;
                            }
                        }
                    }
                }
            }
            maps.setNested(c, nestedMaps, ss);
            reports.add(new OtFusion.GroupReport(targetSpec.groups().get(c).name(), ss, st, entropy, sharp, moved,
                    nestedReceived));
        }
    }

    /**
     * Adds to {@code into} the products of the source's and the target's units of member {@code m}, units indexed
     * by the axis factors from {@code first} to the member's; false if the member is left out (own, a key bias)
     * or another axis of its weight has no map yet.
     */
    private boolean addMember(UnitProducts into, PermutationSpec.Member m, PermutationSpec.PermutedAxis axis,
                              int first) {
        if (leftOut.test(m.weight())) {
            return false;
        }
        long[] shape = from.weight(m.weight()).orElseThrow().shape();
        float[] carried = maps.carry(values.get(m.weight()), shape, axes.get(m.weight()), m.axis());
        if (carried == null) {
            return false;
        }
        long[] carriedShape = to.weight(m.weight()).orElseThrow().shape().clone();
        carriedShape[m.axis()] = shape[m.axis()];
        int[] sourceSizes = new int[axis.factors().size()];
        int[] targetSizes = new int[sourceSizes.length];
        for (int k = 0; k < sourceSizes.length; k++) {
            PermutationSpec.Factor f = axis.factors().get(k);
            targetSizes[k] = f.size();
            sourceSizes[k] = f.group() < 0 ? f.size()
                    : sourceSpec.groups().get(groupOf.get(targetSpec.groups().get(f.group()).name())).size();
        }
        float[] xs = WeightMatching.unfold(carried, carriedShape, m.axis(), sourceSizes, first, m.factor() + 1);
        Weight tw = to.weight(m.weight()).orElseThrow();
        float[] ys = WeightMatching.unfold(tw.toFloats(), tw.shape(), m.axis(), targetSizes, first,
                m.factor() + 1);
        into.add(xs, ys, xs.length / into.normsX.length, products);
        return true;
    }

    private PermutationSpec.PermutedAxis axisOf(PermutationSpec.Member m) {
        for (PermutationSpec.PermutedAxis p : axes.get(m.weight())) {
            if (p.axis() == m.axis()) {
                return p;
            }
        }
        throw new IllegalStateException("no permuted axis " + m);
    }

    /** A plan for {@code cost}, with marginals {@code alpha} and {@code beta}, or uniform ones (null). */
    private double[] solve(double[] cost, int ns, int nt, double[] alpha, double[] beta) {
        double epsilon = settings.epsilon();
        return switch (settings.solver()) {
            case EXACT -> alpha == null ? TransportPlan.exact(cost, ns, nt) : TransportPlan.exact(cost, alpha, beta);
            case SINKHORN -> alpha == null ? TransportPlan.sinkhorn(cost, ns, nt, epsilon, 1000)
                    : TransportPlan.sinkhorn(cost, alpha, beta, epsilon, 1000);
            case NONE -> identity(ns, nt);
        };
    }

    /** {@code Σ Tᵢⱼ·Cᵢⱼ}. */
    private static double transported(double[] plan, double[] cost) {
        double s = 0;
        for (int k = 0; k < plan.length; k++) {
            s += plan[k] * cost[k];
        }
        return s;
    }

    /** The plan that keeps each unit (equal widths), or spreads mass evenly (different widths). */
    private static double[] identity(int ns, int nt) {
        double[] plan = new double[ns * nt];
        for (int i = 0; i < ns; i++) {
            for (int j = 0; j < nt; j++) {
                plan[i * nt + j] = ns == nt ? (i == j ? 1.0 / ns : 0) : 1.0 / (ns * (double) nt);
            }
        }
        return plan;
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
