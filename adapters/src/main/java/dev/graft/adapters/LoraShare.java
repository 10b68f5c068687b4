package dev.graft.adapters;

import dev.graft.InvalidSettingException;
import dev.graft.index.LayerNumbers;
import dev.graft.exec.Threads;
import dev.graft.GraftException;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Shares one LoRA factor across layers ({@link SharedFactor}), for the updates of an adapter or for those from a
 * base model to a fine-tune ({@code W_ft − W_base}, per dense weight). Modules are grouped by kind (the name with
 * the layer number replaced by {@code *}: {@code encoder.layer.*.attention.self.query}); each kind with modules in
 * two or more layers of equal shape gets one {@code A} shared by its layers — or, with {@link #groups}, by each
 * group of layers whose updates are most alike — and a {@code B} per layer, fitted to the layers' full updates.
 * Layers are grouped by average-linkage clustering on the overlap of their updates' row spaces:
 * {@code ‖V_iᵀ·V_j‖²_F / r}, {@code V_l} the top {@code r} right singular vectors of {@code ΔW_l} (1 for the same
 * subspace, 0 for orthogonal ones). Written as a standard PEFT adapter (the shared {@code A} repeated in every
 * layer, scale 1; an adapter's trained biases carried over as they are; a fine-tune's biases are not carried). The
 * report gives per shared group the parameters before (the source adapter's, or the dense updates') and after
 * (counting the shared factor once), and each layer's relative squared error.
 */
public final class LoraShare {

    /** One shared group of one kind: its layers' modules, shared rank, parameters before and after, and errors. */
    public record Kind(String kind, List<String> modules, int rank, long parametersBefore, long parametersAfter,
                       double[] relativeError) {
        /** The layer numbers of the modules (-1 for a module without one). */
        public List<Integer> layers() {
            return modules.stream().map(m -> LayerNumbers.layerOf(m).orElse(-1)).toList();
        }
    }

    /** One layer's update: module name, sizes, {@code ΔW} as {@code [out, in]}, and its parameters in the source. */
    private record Update(String name, int in, int out, float[] delta, long parameters) {
    }

    private final Path adapter;
    private final Path base;
    private final Path fineTuned;
    private int rank = 16;
    private int groups = 1;

    private LoraShare(Path adapter, Path base, Path fineTuned) {
        this.adapter = adapter;
        this.base = base;
        this.fineTuned = fineTuned;
    }

    /** Shares factors within the PEFT adapter in {@code folder}. */
    public static LoraShare from(Path folder) {
        return new LoraShare(folder, null, null);
    }

    /** Shares factors fitted to the update from {@code base} to {@code fineTuned}, two models of one graph. */
    public static LoraShare between(Path base, Path fineTuned) {
        return new LoraShare(null, base, fineTuned);
    }

    /**
     * The rank of each shared factor (default 16).
     *
     * @throws InvalidSettingException if {@code r} is less than 1
     */
    public LoraShare rank(int r) {
        if (r < 1) {
            throw new InvalidSettingException("rank must be positive, got " + r);
        }
        this.rank = r;
        return this;
    }

    /**
     * At most this many shared factors per kind (default 1: all its layers share one); layers are grouped by how
     * alike their updates are. As many groups as layers shares nothing: each layer gets its own rank-r SVD.
     *
     * @throws InvalidSettingException if {@code g} is less than 1
     */
    public LoraShare groups(int g) {
        if (g < 1) {
            throw new InvalidSettingException("groups must be positive, got " + g);
        }
        this.groups = g;
        return this;
    }

    /**
     * Fits the shared factors and writes the adapter to {@code folder}.
     *
     * @throws AdapterFormatException if the adapter is malformed or has no update to share
     * @throws dev.graft.GraftException if a model cannot be read or the folder cannot be written
     */
    public List<Kind> writeTo(Path folder) {
        PeftAdapter source = adapter == null ? null : PeftAdapter.read(adapter);
        List<Update> updates = source == null ? fineTuneUpdates() : source.modules().values().stream()
                .map(m -> new Update(m.name(), m.in(), m.out(), m.delta(), (long) m.rank() * (m.in() + m.out())))
                .toList();
        Map<String, List<Update>> kinds = new LinkedHashMap<>();
        Map<String, LoraModule> out = new LinkedHashMap<>();
        for (Update u : updates) {
            String kind = LayerNumbers.kindOf(u.name());
            kinds.computeIfAbsent(kind == null ? u.name() : kind, k -> new ArrayList<>()).add(u);
        }
        List<Kind> report = new ArrayList<>();
        try (MatrixProducts products = new MatrixProducts(Threads.workers())) {
            for (Map.Entry<String, List<Update>> e : kinds.entrySet()) {
                List<Update> us = e.getValue();
                Update first = us.get(0);
                boolean shareable = us.size() > 1 && us.stream().allMatch(u -> u.in() == first.in()
                        && u.out() == first.out());
                if (!shareable && source != null) { // kept as it is; a fine-tune's lone update is factored below
                    us.forEach(u -> out.put(u.name(), source.modules().get(u.name())));
                    continue;
                }
                for (List<Update> group : shareable ? grouped(us, products) : List.of(us)) {
                    SharedFactor.Fit fit = SharedFactor.fit(group.stream().map(Update::delta).toList(), first.out(),
                            first.in(), rank, products);
                    long before = 0;
                    for (int l = 0; l < group.size(); l++) {
                        Update u = group.get(l);
                        before += u.parameters();
                        out.put(u.name(), new LoraModule(u.name(), fit.rank(), u.in(), u.out(), fit.a(),
                                fit.b().get(l), 1));
                    }
                    long after = (long) fit.rank() * first.in() + (long) group.size() * fit.rank() * first.out();
                    report.add(new Kind(e.getKey(), group.stream().map(Update::name).toList(), fit.rank(), before,
                            after, fit.relativeError()));
                }
            }
        }
        int r = out.values().stream().mapToInt(LoraModule::rank).max().orElseThrow();
        Map<String, Integer> ranks = new LinkedHashMap<>();
        Map<String, Double> alphas = new LinkedHashMap<>();
        out.values().forEach(m -> {
            if (m.rank() != r || m.scale() != 1) {
                ranks.put(m.name(), m.rank());
                alphas.put(m.name(), m.scale() * m.rank());
            }
        });
        PeftConfig config = source == null
                ? new PeftConfig(r, r, false, false, ranks, alphas, List.copyOf(out.keySet()), "none", Map.of())
                : new PeftConfig(r, r, false, false, ranks, alphas, source.config().targetModules(),
                        source.config().bias(), Map.of());
        new PeftAdapter(config, out, source == null ? Map.of() : source.biases()).write(folder);
        return report;
    }

    /** Every changed dense weight's update from the base to the fine-tune, by module path. */
    private List<Update> fineTuneUpdates() {
        try (OnnxModel mb = OnnxModel.open(base); OnnxModel mf = OnnxModel.open(fineTuned)) {
            List<Update> updates = new ArrayList<>();
            WeightUpdates changes = new WeightUpdates(mb, mf);
            changes.targets().forEach((module, t) -> {
                float[] delta = changes.of(module, t);
                if (delta != null) {
                    updates.add(new Update(module, (int) t.in(), (int) t.out(), delta, t.in() * t.out()));
                }
            });
            if (updates.isEmpty()) {
                throw new GraftException(fineTuned, null, "has the same dense weights as " + base
                        + ": there is no update to share");
            }
            mb.checkUnchanged(null); // what was read from the mappings is what the files hold
            mf.checkUnchanged(null);
            return updates;
        }
    }

    /** {@code us} in at most {@link #groups} groups, by average linkage on row-space overlap (layer order kept). */
    private List<List<Update>> grouped(List<Update> us, MatrixProducts products) {
        if (groups == 1) {
            return List.of(us);
        }
        int n = us.size();
        int in = us.get(0).in();
        List<float[]> bases = new ArrayList<>();
        for (Update u : us) {
            TruncatedSvd.Factors f = TruncatedSvd.of(u.delta(), u.out(), in, rank, products);
            bases.add(f.rightVectors());
        }
        double[][] similarity = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                int ri = bases.get(i).length / in;
                int rj = bases.get(j).length / in;
                double s = 0;
                for (float x : products.timesTransposed(bases.get(i), ri, in, bases.get(j), rj)) {
                    s += (double) x * x;
                }
                similarity[i][j] = similarity[j][i] = s / Math.max(1, Math.min(ri, rj));
            }
        }
        List<List<Integer>> clusters = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            clusters.add(new ArrayList<>(List.of(i)));
        }
        while (clusters.size() > groups) {
            int bestA = 0;
            int bestB = 1;
            double best = Double.NEGATIVE_INFINITY;
            for (int a = 0; a < clusters.size(); a++) {
                for (int b = a + 1; b < clusters.size(); b++) {
                    double s = 0;
                    for (int i : clusters.get(a)) {
                        for (int j : clusters.get(b)) {
                            s += similarity[i][j];
                        }
                    }
                    s /= clusters.get(a).size() * clusters.get(b).size();
                    if (s > best) {
                        best = s;
                        bestA = a;
                        bestB = b;
                    }
                }
            }
            clusters.get(bestA).addAll(clusters.remove(bestB));
            clusters.get(bestA).sort(null);
        }
        clusters.sort(java.util.Comparator.comparingInt(c -> c.get(0)));
        return clusters.stream().map(c -> c.stream().map(us::get).toList()).toList();
    }
}
