package dev.graft.align;

import dev.graft.data.Activations;
import dev.graft.exec.Execution;
import dev.graft.exec.Threads;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.linalg.MatrixProducts;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Activation matching (Ainsworth, Hayase and Srinivasa, <i>Git Re-Basin</i>, ICLR 2023, section 3.1; Li et al.,
 * <i>Convergent Learning</i>, ICLR 2016): both models run on the same calibration data in ONNX Runtime with
 * the {@link PermutationSpec#probes() probe} activations exposed as outputs; for each group, the Pearson
 * correlation between A's unit {@code i} and B's unit {@code j} over every sample and position, accumulated
 * batch by batch (sums, sums of squares and cross products; the activations are not kept), and one linear
 * assignment maximising the summed correlation. Groups with nested groups (heads) pick each pair of heads'
 * best head-dimension assignment, as {@link WeightMatching} does. A group seen in no probe stays unpermuted.
 * Groups are taken in passes over the data under a memory budget ({@link #correlations}).
 */
public final class ActivationMatching {
    /**
     * What a matching did: the permutations, each top-level group's summed correlation before and after, the
     * calibration samples, and the groups no probe showed (left unpermuted).
     */
    public record Result(Permutations permutations, List<WeightMatching.GroupScore> scores, int samples,
                         List<String> unobserved) {
    }

    private ActivationMatching() {
    }

    /**
     * One top-level group's correlations between A's and B's units ({@code n×n}, row-major, A's unit by row): its
     * own ({@code null} if no probe shows them) and each nested group's, over (parent unit, own unit) pairs, by
     * group index.
     */
    public record GroupCorrelations(int group, double[] own, Map<Integer, double[]> nested) {
        /** Whether any probe showed the group or one of its nested groups. */
        public boolean seen() {
            return own != null || !nested.isEmpty();
        }
    }

    /**
     * One top-level group's assignment: the permutations of the group and its nested groups by index, its summed
     * correlation before and after ({@code null} if unobserved), and the names of groups no probe showed (left
     * unpermuted).
     */
    public record Assignment(Map<Integer, int[]> permutations, WeightMatching.GroupScore score,
                             List<String> unobserved) {
    }

    /** Matches {@code modelB} to {@code modelA} on {@code data} under the default memory budget; the spec is B's. */
    public static Result match(Path modelA, Path modelB, PermutationSpec spec, Calibration data) {
        return match(modelA, modelB, spec, data, Execution.defaultBudget(), ProgressListener.NONE);
    }

    /** As {@link #match(Path, Path, PermutationSpec, Calibration)}, in passes that hold at most {@code budgetBytes}. */
    public static Result match(Path modelA, Path modelB, PermutationSpec spec, Calibration data, long budgetBytes,
                               ProgressListener progress) {
        Permutations[] perms = {Permutations.identity(spec)};
        List<WeightMatching.GroupScore> scores = new ArrayList<>();
        List<String> unobserved = new ArrayList<>();
        correlations(modelA, modelB, spec, data, budgetBytes, progress, c -> {
            Assignment a = assign(spec, c);
            a.permutations().forEach((g, p) -> perms[0] = perms[0].with(g, p));
            if (a.score() != null) {
                scores.add(a.score());
            }
            unobserved.addAll(a.unobserved());
        });
        return new Result(perms[0], scores, data.samples(), unobserved);
    }

    /**
     * Streams each top-level group's correlations on {@code data} to {@code each}, in group order. The groups are
     * taken in passes over the data whose running sums hold at most {@code budgetBytes} together (at least one
     * group per pass), each pass fetching only the probes its groups need; a group's sums are dropped once
     * {@code each} has seen them, so memory does not grow with the number of groups. The passes share one session
     * per model (every probe exposed; each pass fetches its own).
     */
    public static void correlations(Path modelA, Path modelB, PermutationSpec spec, Calibration data,
                                    long budgetBytes, ProgressListener progress, Consumer<GroupCorrelations> each) {
        Map<Integer, Integer> units = new LinkedHashMap<>();
        for (PermutationSpec.Probe p : spec.probes()) {
            for (Units u : Units.of(spec, p)) {
                units.put(u.key(), u.units());
            }
        }
        List<List<Integer>> passes = new ArrayList<>();
        List<Integer> pass = new ArrayList<>();
        long held = 0;
        for (int g = 0; g < spec.groups().size(); g++) {
            if (spec.groups().get(g).nested()) {
                continue;
            }
            long bytes = 0;
            for (Map.Entry<Integer, Integer> e : units.entrySet()) {
                bytes += topGroup(spec, e.getKey()) == g ? Correlations.bytes(e.getValue()) : 0;
            }
            if (!pass.isEmpty() && held + bytes > budgetBytes) {
                passes.add(pass);
                pass = new ArrayList<>();
                held = 0;
            }
            pass.add(g);
            held += bytes;
        }
        if (!pass.isEmpty()) {
            passes.add(pass);
        }
        Set<String> probes = new LinkedHashSet<>();
        spec.probes().forEach(p -> probes.add(p.value()));
        try (Activations runs = probes.isEmpty() ? null
                : Activations.of(List.of(modelA, modelB), List.of(probes, probes))) {
            for (List<Integer> groups : passes) {
                Map<Integer, double[]> stats = pass(runs, spec, data, Set.copyOf(groups), progress);
                for (int g : groups) {
                    Map<Integer, double[]> nested = new LinkedHashMap<>();
                    for (int c = 0; c < spec.groups().size(); c++) {
                        if (spec.groups().get(c).parent() == g && stats.containsKey(c)) {
                            nested.put(c, stats.remove(c));
                        }
                    }
                    each.accept(new GroupCorrelations(g, stats.remove(Units.own(g)), nested));
                }
            }
        }
    }

    /** The top-level group a statistics key belongs to. */
    private static int topGroup(PermutationSpec spec, int key) {
        return key < 0 ? -1 - key : spec.groups().get(key).parent();
    }

    /**
     * One pass over the data in {@code runs} (both models, every probe exposed), fetching the probes that show
     * {@code groups}: the correlations of their units, by key.
     */
    private static Map<Integer, double[]> pass(Activations runs, PermutationSpec spec, Calibration data,
                                               Set<Integer> groups, ProgressListener progress) {
        Map<PermutationSpec.Probe, List<Units>> shown = new LinkedHashMap<>();
        for (PermutationSpec.Probe p : spec.probes()) {
            List<Units> us = Units.of(spec, p).stream().filter(u -> groups.contains(topGroup(spec, u.key()))).toList();
            if (!us.isEmpty()) {
                shown.put(p, us);
            }
        }
        Map<Integer, double[]> out = new HashMap<>();
        if (shown.isEmpty()) {
            return out;
        }
        Set<String> probes = new HashSet<>();
        shown.keySet().forEach(p -> probes.add(p.value()));
        Map<Integer, Correlations> stats = new LinkedHashMap<>();
        try (MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
            runs.run(data, List.of(probes, probes), batch -> shown.forEach((p, us) -> {
                for (Units u : us) {
                    float[] ua = u.matrix(batch.output(0, p.value()));
                    float[] ub = u.matrix(batch.output(1, p.value()));
                    stats.computeIfAbsent(u.key(), k -> new Correlations(u.units()))
                            .add(ua, ub, ua.length / u.units(), products);
                }
            }), progress, "matching");
            for (Map.Entry<Integer, Correlations> e : stats.entrySet()) {
                out.put(e.getKey(), e.getValue().correlation(products));
                e.setValue(null);
            }
            return out;
        }
    }

    /**
     * The assignment of top-level group {@code c.group()} and its nested groups: for a group with nested ones,
     * each pair of parent units scores the best assignment of their nested units, added to the group's own
     * correlation; one linear assignment maximises the sum.
     */
    public static Assignment assign(PermutationSpec spec, GroupCorrelations c) {
        int g = c.group();
        PermutationSpec.Group group = spec.groups().get(g);
        List<String> unobserved = new ArrayList<>();
        for (int k = 0; k < spec.groups().size(); k++) {
            if (spec.groups().get(k).parent() == g && !c.nested().containsKey(k)) {
                unobserved.add(spec.groups().get(k).name());
            }
        }
        if (!c.seen()) {
            unobserved.add(0, group.name());
            return new Assignment(Map.of(), null, unobserved);
        }
        int n = group.size();
        double[] total = c.own() == null ? new double[n * n] : c.own().clone();
        List<Integer> children = List.copyOf(c.nested().keySet());
        int[][][] best = new int[children.size()][][];
        for (int ci = 0; ci < children.size(); ci++) {
            int size = spec.groups().get(children.get(ci)).size();
            double[] joint = c.nested().get(children.get(ci));
            best[ci] = new int[n * n][];
            double[] block = new double[size * size];
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    for (int r = 0; r < size; r++) {
                        System.arraycopy(joint, (i * size + r) * n * size + j * size, block, r * size, size);
                    }
                    int[] a = LapSolver.maximize(block, size, size);
                    best[ci][i * n + j] = a;
                    total[i * n + j] += sum(block, size, a);
                }
            }
        }
        int[] p = LapSolver.maximize(total, n, n);
        Map<Integer, int[]> perms = new LinkedHashMap<>();
        perms.put(g, p);
        for (int ci = 0; ci < children.size(); ci++) {
            int size = spec.groups().get(children.get(ci)).size();
            int[] flat = new int[n * size];
            for (int i = 0; i < n; i++) {
                System.arraycopy(best[ci][i * n + p[i]], 0, flat, i * size, size);
            }
            perms.put(children.get(ci), flat);
        }
        return new Assignment(perms, new WeightMatching.GroupScore(group.name(),
                sum(total, n, Permutations.identity(n)), sum(total, n, p)), unobserved);
    }

    private static double sum(double[] m, int n, int[] perm) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += m[i * n + perm[i]];
        }
        return s;
    }

    /**
     * How a group's units sit in a probe: which factor positions make the unit index (the group's; a nested
     * group's parent and its own), all other positions being samples.
     */
    private record Units(int key, int units, List<List<PermutationSpec.Factor>> axes, int group, int parent) {
        /** Statistics of a top-level group's own units are kept under {@code -1 - g}; a nested group's under g. */
        static int own(int g) {
            return -1 - g;
        }

        static List<Units> of(PermutationSpec spec, PermutationSpec.Probe p) {
            List<Units> out = new ArrayList<>();
            for (int g = 0; g < spec.groups().size(); g++) {
                if (!p.holds(g)) {
                    continue;
                }
                PermutationSpec.Group group = spec.groups().get(g);
                if (group.nested() && !p.holds(group.parent())) {
                    continue;
                }
                if (!group.nested() && holdsChildOf(spec, p, g)) {
                    continue; // the nested group's joint units cover it; alone, its samples would be misaligned
                }
                int units = group.size() * (group.nested() ? spec.groups().get(group.parent()).size() : 1);
                out.add(new Units(group.nested() ? g : own(g), units, p.axes(), g, group.parent()));
            }
            return out;
        }

        private static boolean holdsChildOf(PermutationSpec spec, PermutationSpec.Probe p, int g) {
            for (int c = 0; c < spec.groups().size(); c++) {
                if (spec.groups().get(c).parent() == g && p.holds(c)) {
                    return true;
                }
            }
            return false;
        }

        /**
         * The activation as a {@code units × samples} matrix: digits of the unit positions (parent before child,
         * as they come) make the row, all the others (batch, positions, fixed factors) the column. Axes without
         * groups take their size from the output, since batch and sequence sizes vary between batches.
         */
        float[] matrix(ModelRunner.Output o) {
            long[] shape = o.shape();
            List<Long> sizeList = new ArrayList<>();
            List<Boolean> unitList = new ArrayList<>();
            for (int k = 0; k < axes.size(); k++) {
                List<PermutationSpec.Factor> factors = axes.get(k);
                boolean grouped = factors.stream().anyMatch(f -> f.group() >= 0);
                if (!grouped) {
                    sizeList.add(shape[k]);
                    unitList.add(false);
                    continue;
                }
                for (PermutationSpec.Factor f : factors) {
                    sizeList.add((long) f.size());
                    unitList.add(f.group() == group || (parent >= 0 && f.group() == parent));
                }
            }
            int digits = sizeList.size();
            long[] sizes = new long[digits];
            boolean[] unit = new boolean[digits];
            for (int k = 0; k < digits; k++) {
                sizes[k] = sizeList.get(k);
                unit[k] = unitList.get(k);
            }
            float[] v = o.values();
            int samples = v.length / units;
            float[] out = new float[v.length];
            int[] idx = new int[digits];
            for (int e = 0; e < v.length; e++) {
                int row = 0;
                int col = 0;
                for (int k = 0; k < digits; k++) {
                    if (unit[k]) {
                        row = row * (int) sizes[k] + idx[k];
                    } else {
                        col = col * (int) sizes[k] + idx[k];
                    }
                }
                out[row * samples + col] = v[e];
                for (int k = digits - 1; k >= 0; k--) {
                    if (++idx[k] < sizes[k]) {
                        break;
                    }
                    idx[k] = 0;
                }
            }
            return out;
        }
    }

    /**
     * Running sums for the Pearson correlation between every unit of A and every unit of B. Samples are
     * buffered (up to about 4 MiB per model) so that the cross products run as few large products.
     */
    private static final class Correlations {
        private final int n;
        private final int capacity;
        private final float[] bufferA;
        private final float[] bufferB;
        private int filled;
        private final double[] sumA;
        private final double[] sumB;
        private final double[] squaresA;
        private final double[] squaresB;
        private final double[] cross;
        private long count;

        Correlations(int n) {
            this.n = n;
            this.capacity = capacity(n);
            bufferA = new float[n * capacity];
            bufferB = new float[n * capacity];
            sumA = new double[n];
            sumB = new double[n];
            squaresA = new double[n];
            squaresB = new double[n];
            cross = new double[n * n];
        }

        private static int capacity(int n) {
            return Math.max(256, (1 << 20) / n);
        }

        /**
         * The bytes sums for {@code n} units hold, with the correlation they end in: two sample buffers, the cross
         * products and the result ({@code n²} doubles each), one flush's product ({@code n²} floats).
         */
        static long bytes(int n) {
            return 8L * n * capacity(n) + 20L * n * n + 32L * n;
        }

        /** Adds {@code samples} samples of each unit ({@code n × samples}, row-major). */
        void add(float[] a, float[] b, int samples, MatrixProducts products) {
            for (int from = 0; from < samples; ) {
                if (filled == capacity) {
                    flush(products);
                }
                int take = Math.min(samples - from, capacity - filled);
                for (int i = 0; i < n; i++) {
                    System.arraycopy(a, i * samples + from, bufferA, i * capacity + filled, take);
                    System.arraycopy(b, i * samples + from, bufferB, i * capacity + filled, take);
                }
                filled += take;
                from += take;
            }
        }

        private void flush(MatrixProducts products) {
            if (filled == 0) {
                return;
            }
            float[] a = compact(bufferA);
            float[] b = compact(bufferB);
            for (int i = 0; i < n; i++) {
                for (int s = 0; s < filled; s++) {
                    double x = a[i * filled + s];
                    double y = b[i * filled + s];
                    sumA[i] += x;
                    sumB[i] += y;
                    squaresA[i] += x * x;
                    squaresB[i] += y * y;
                }
            }
            float[] c = products.timesTransposed(a, n, filled, b, n);
            for (int k = 0; k < c.length; k++) {
                cross[k] += c[k];
            }
            count += filled;
            filled = 0;
        }

        private float[] compact(float[] buffer) {
            if (filled == capacity) {
                return buffer;
            }
            float[] out = new float[n * filled];
            for (int i = 0; i < n; i++) {
                System.arraycopy(buffer, i * capacity, out, i * filled, filled);
            }
            return out;
        }

        double[] correlation(MatrixProducts products) {
            flush(products);
            double[] out = new double[n * n];
            for (int i = 0; i < n; i++) {
                double ma = sumA[i] / count;
                double sa = Math.sqrt(Math.max(squaresA[i] / count - ma * ma, 0));
                for (int j = 0; j < n; j++) {
                    double mb = sumB[j] / count;
                    double sb = Math.sqrt(Math.max(squaresB[j] / count - mb * mb, 0));
                    double cov = cross[i * n + j] / count - ma * mb;
                    out[i * n + j] = cov / (sa * sb + 1e-12);
                }
            }
            return out;
        }
    }
}
