package dev.graft.align;

import dev.graft.exec.Threads;
import dev.graft.IncompatibleModelsException;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.WeightRole;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Predicate;

/**
 * Weight matching (Ainsworth, Hayase and Srinivasa, <i>Git Re-Basin</i>, ICLR 2023, algorithm 1): permutations of
 * model B's groups that maximise {@code Σ_w ⟨W_A, π(W_B)⟩} over the member weights, by coordinate descent: for each
 * group in a random order (seeded), with every other group held, the objective is linear in the group's
 * permutation, {@code Σ_i C[i, π(i)]} with {@code C[i, j]} the dot product of A's unit {@code i} and B's unit
 * {@code j} summed over the members; one linear assignment ({@link LapSolver}) maximises it. A group with
 * nested groups (attention heads, with the head dimension permuted within each head) is optimised jointly with
 * them: each pair of heads is scored by the best assignment of their head dimensions. A group changes only when
 * its objective strictly improves; passes repeat until one changes nothing, or {@code maxPasses}. The
 * products run in ONNX Runtime ({@link MatrixProducts}).
 *
 * <p>By default the biases of attention keys are left out of the costs: softmax over the keys cancels them, they
 * are large and unrelated between models, and alone they drive spurious matches of heads (found by name: the
 * bias of a module whose name ends in {@code key}).
 */
public final class WeightMatching {
    /** What a matching did: the permutations, how many passes, and each group's objective before and after. */
    public record Result(Permutations permutations, int passes, List<GroupScore> scores) {
    }

    /**
     * A top-level group's objective (with the groups nested in it) at the identity and at the permutations
     * found.
     */
    public record GroupScore(String group, double identity, double matched) {
    }

    private final PermutationSpec spec;
    private final Map<String, float[]> a = new HashMap<>();
    private final Map<String, float[]> b = new HashMap<>();
    private final Map<String, long[]> shapes = new HashMap<>();
    private final List<List<PermutationSpec.Member>> members = new ArrayList<>();
    private MergePlan pairing;

    private WeightMatching(OnnxModel modelA, OnnxModel modelB, PermutationSpec spec, Predicate<String> exclude) {
        this.spec = spec;
        for (PermutationSpec.Group g : spec.groups()) {
            List<PermutationSpec.Member> kept = new ArrayList<>();
            for (PermutationSpec.Member m : g.members()) {
                if (!exclude.test(m.weight())) {
                    kept.add(m);
                    load(modelA, modelB, m.weight());
                }
            }
            members.add(kept);
        }
    }

    /**
     * Loads B's weight {@code name} and A's weight paired with it: by name, or, for an exporter's anonymous name
     * ({@code onnx::MatMul_N}, numbered apart in two exports) or one A lacks, as a merge pairs them (by module and
     * role).
     */
    private void load(OnnxModel modelA, OnnxModel modelB, String name) {
        if (a.containsKey(name)) {
            return;
        }
        Weight wb = modelB.weight(name).orElseThrow(() -> new IncompatibleModelsException(modelB.file(), name,
                "is in the permutation spec but not in the model"));
        java.util.Optional<Weight> byName = modelA.weight(name);
        if (name.contains("::") || byName.isEmpty()) {
            if (pairing == null) {
                pairing = MergePlan.of(List.of(modelB, modelA));
            }
            List<Weight> sources = pairing.step(name).sources();
            byName = sources.size() > 1 ? java.util.Optional.of(sources.get(1)) : byName;
        }
        Weight wa = byName.orElseThrow(() -> new IncompatibleModelsException(modelA.file(), name,
                "is missing (expected a weight of shape " + Arrays.toString(wb.shape()) + " as in "
                        + modelB.file().getFileName() + ")"));
        if (!Arrays.equals(wa.shape(), wb.shape())) {
            throw new IncompatibleModelsException(modelA.file(), name, "has shape " + Arrays.toString(wa.shape())
                    + " but " + modelB.file().getFileName() + " has " + Arrays.toString(wb.shape()));
        }
        a.put(name, wa.toFloats());
        b.put(name, wb.toFloats());
        shapes.put(name, wb.shape());
    }

    /** Biases of modules named {@code ...key}: attention key biases, which softmax cancels. */
    public static Predicate<String> attentionKeyBiases(OnnxModel model) {
        GraphIndex index = GraphIndex.of(model);
        Set<String> out = new LinkedHashSet<>();
        for (IndexedWeight w : index.weights()) {
            String path = w.modulePath();
            if (w.role() == WeightRole.BIAS && (path.endsWith(".key") || path.equals("key") || path.endsWith("/key"))) {
                out.add(w.name());
            }
        }
        return out::contains;
    }

    /**
     * Matches {@code modelB} to {@code modelA}: the permutations that, applied to B ({@link ModelPermuter}), bring
     * its units into A's order. Both models must have the spec's member weights with equal shapes.
     */
    public static Result match(OnnxModel modelA, OnnxModel modelB, PermutationSpec spec, long seed, int maxPasses,
                               Predicate<String> exclude) {
        WeightMatching m = new WeightMatching(modelA, modelB, spec, exclude);
        try (MatrixProducts products = new MatrixProducts(Threads.workers())) {
            return m.run(products, seed, maxPasses);
        }
    }

    private Result run(MatrixProducts products, long seed, int maxPasses) {
        int groups = spec.groups().size();
        Permutations perms = Permutations.identity(spec);
        double[] identityScore = new double[groups];
        double[] score = new double[groups];
        Arrays.fill(identityScore, Double.NaN);
        List<Integer> top = new ArrayList<>();
        for (int g = 0; g < groups; g++) {
            if (!spec.groups().get(g).nested()) {
                top.add(g);
            }
        }
        SplittableRandom random = new SplittableRandom(seed);
        int pass = 0;
        boolean changed = true;
        while (changed && pass < maxPasses) {
            pass++;
            changed = false;
            for (int t : shuffled(top.size(), random)) {
                int g = top.get(t);
                Step step = step(g, perms, products);
                if (Double.isNaN(identityScore[g])) {
                    identityScore[g] = step.identity;
                }
                score[g] = step.before;
                if (step.after > step.before + 1e-9 * Math.abs(step.before)) {
                    perms = step.perms;
                    score[g] = step.after;
                    changed = true;
                }
            }
        }
        List<GroupScore> scores = new ArrayList<>();
        for (int g : top) {
            scores.add(new GroupScore(spec.groups().get(g).name(), identityScore[g], score[g]));
        }
        return new Result(perms, pass, scores);
    }

    /** One coordinate step: the objective at the identity, before and after, and the permutations after. */
    private record Step(double identity, double before, double after, Permutations perms) {
    }

    /**
     * Optimises group {@code g} together with the groups nested in it: for each pair of units {@code (i, j)} of
     * {@code g}, each nested group's best assignment between unit {@code i}'s block in A and unit {@code j}'s
     * in B (a small linear assignment), whose scores add to {@code g}'s own costs; then one assignment for
     * {@code g}, and each nested block from the pair it chose.
     */
    private Step step(int g, Permutations perms, MatrixProducts products) {
        int n = spec.groups().get(g).size();
        List<Integer> children = new ArrayList<>();
        for (int c = 0; c < spec.groups().size(); c++) {
            if (spec.groups().get(c).parent() == g) {
                children.add(c);
            }
        }
        java.util.function.IntPredicate skip = x -> x == g || children.contains(x);
        float[] direct = new float[n * n];
        for (PermutationSpec.Member m : members.get(g)) {
            PermutationSpec.PermutedAxis axis = axisOf(m);
            boolean coveredByChild = m.factor() + 1 < axis.factors().size()
                    && children.contains(axis.factors().get(m.factor() + 1).group());
            if (!coveredByChild) {
                addProduct(direct, m, axis, m.factor(), m.factor() + 1, n, perms, skip, products);
            }
        }
        double[] total = new double[n * n];
        for (int k = 0; k < total.length; k++) {
            total[k] = direct[k];
        }
        int[][][] childBest = new int[children.size()][][];
        float[][] blocks = new float[children.size()][];
        for (int ci = 0; ci < children.size(); ci++) {
            int c = children.get(ci);
            int size = spec.groups().get(c).size();
            int rows = n * size;
            float[] joint = new float[rows * rows];
            for (PermutationSpec.Member m : members.get(c)) {
                PermutationSpec.PermutedAxis axis = axisOf(m);
                addProduct(joint, m, axis, m.factor() - 1, m.factor() + 1, rows, perms, skip, products);
            }
            blocks[ci] = joint;
            childBest[ci] = new int[n * n][];
            float[] block = new float[size * size];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    copyBlock(joint, rows, i, j, size, block);
                    int[] a = LapSolver.maximize(block, size, size);
                    childBest[ci][i * n + j] = a;
                    total[i * n + j] += objective(block, size, a);
                }
            }
        }
        int[] current = perms.get(g);
        int[] best = LapSolver.maximize(total, n, n);
        Permutations after = perms.with(g, best);
        for (int ci = 0; ci < children.size(); ci++) {
            int size = spec.groups().get(children.get(ci)).size();
            int[] flat = new int[n * size];
            for (int i = 0; i < n; i++) {
                System.arraycopy(childBest[ci][i * n + best[i]], 0, flat, i * size, size);
            }
            after = after.with(children.get(ci), flat);
        }
        double before = score(direct, blocks, children, n, current, perms);
        double identity = score(direct, blocks, children, n, Permutations.identity(n), Permutations.identity(spec));
        return new Step(identity, before, objective(total, n, best), after);
    }

    /** The objective of group {@code g}'s step at {@code parent} with {@code perms}' nested blocks. */
    private double score(float[] direct, float[][] blocks, List<Integer> children, int n, int[] parent,
                         Permutations perms) {
        double s = objective(direct, n, parent);
        float[] block = null;
        for (int ci = 0; ci < children.size(); ci++) {
            int size = spec.groups().get(children.get(ci)).size();
            int[] nested = perms.get(children.get(ci));
            block = new float[size * size];
            for (int i = 0; i < n; i++) {
                copyBlock(blocks[ci], n * size, i, parent[i], size, block);
                s += objective(block, size, Arrays.copyOfRange(nested, i * size, (i + 1) * size));
            }
        }
        return s;
    }

    private static void copyBlock(float[] m, int rows, int i, int j, int size, float[] out) {
        for (int r = 0; r < size; r++) {
            System.arraycopy(m, (i * size + r) * rows + j * size, out, r * size, size);
        }
    }

    /**
     * Adds to {@code cost} ({@code rows×rows}) the dot products between A's and B's units of member {@code m},
     * units indexed by the axis factors {@code [from, to)}, B permuted by every group {@code skip} rejects.
     */
    private void addProduct(float[] cost, PermutationSpec.Member m, PermutationSpec.PermutedAxis axis, int from,
                            int to, int rows, Permutations perms, java.util.function.IntPredicate skip,
                            MatrixProducts products) {
        long[] shape = shapes.get(m.weight());
        float[] bPermuted = perms.apply(m.weight(), shape, b.get(m.weight()), skip);
        int rest = b.get(m.weight()).length / rows;
        float[] ua = unfold(a.get(m.weight()), shape, axis, from, to);
        float[] ub = unfold(bPermuted, shape, axis, from, to);
        float[] c = products.timesTransposed(ua, rows, rest, ub, rows);
        for (int k = 0; k < cost.length; k++) {
            cost[k] += c[k];
        }
    }

    private PermutationSpec.PermutedAxis axisOf(PermutationSpec.Member m) {
        for (PermutationSpec.PermutedAxis x : spec.byWeight().get(m.weight())) {
            if (x.axis() == m.axis()) {
                return x;
            }
        }
        throw new IllegalStateException("no permuted axis " + m);
    }

    /**
     * The weight as a matrix whose row {@code r} holds every entry whose index in the axis factors
     * {@code [from, to)} (row-major) is {@code r}, all other indices in a fixed order along the row.
     */
    static float[] unfold(float[] w, long[] shape, PermutationSpec.PermutedAxis axis, int from, int to) {
        return unfold(w, shape, axis.axis(), axis.factors().stream().mapToInt(PermutationSpec.Factor::size).toArray(),
                from, to);
    }

    /** {@link #unfold(float[], long[], PermutationSpec.PermutedAxis, int, int)} with the factors' sizes given. */
    static float[] unfold(float[] w, long[] shape, int ax, int[] factorSizes, int from, int to) {
        long pre = 1;
        for (int k = 0; k < ax; k++) {
            pre *= shape[k];
        }
        long post = 1;
        for (int k = ax + 1; k < shape.length; k++) {
            post *= shape[k];
        }
        int axisSize = (int) shape[ax];
        int size = 1;
        for (int k = from; k < to; k++) {
            size *= factorSizes[k];
        }
        int innerSize = 1;
        for (int k = to; k < factorSizes.length; k++) {
            innerSize *= factorSizes[k];
        }
        int outerCount = axisSize / (size * innerSize);
        long rest = w.length / size;
        float[] out = new float[w.length];
        int p2 = (int) post;
        for (long p = 0; p < pre; p++) {
            for (int x = 0; x < axisSize; x++) {
                int outer = x / (size * innerSize);
                int i = (x / innerSize) % size;
                int inner = x % innerSize;
                long r = ((p * outerCount + outer) * innerSize + inner) * post;
                long src = (p * axisSize + x) * post;
                System.arraycopy(w, (int) src, out, (int) (i * rest + r), p2);
            }
        }
        return out;
    }

    private static double objective(double[] cost, int n, int[] perm) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += cost[i * n + perm[i]];
        }
        return s;
    }

    private static double objective(float[] cost, int n, int[] perm) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += cost[i * n + perm[i]];
        }
        return s;
    }

    private static int[] shuffled(int n, SplittableRandom random) {
        int[] order = Permutations.identity(n);
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }
}
