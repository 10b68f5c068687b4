package dev.graft.adapters;

import dev.graft.InvalidSettingException;
import dev.graft.exec.Threads;
import dev.graft.linalg.MatrixProducts;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.ResolvedParameters;
import dev.graft.plan.Setting;
import dev.graft.plan.TensorDiagnostics;
import dev.graft.plan.TensorInputs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Composes weighted LoRA adapters into one PEFT adapter. For each module, the update sought is
 * {@code Σₖ wₖ·sₖ·Bₖ·Aₖ} (an adapter without the module contributes nothing):
 * <ul>
 *   <li>{@link Method#CAT}: exact, ranks add — {@code B = [B₁ … Bₙ]}, {@code A = [w₁s₁A₁; …; wₙsₙAₙ]}.</li>
 *   <li>{@link Method#SVD}: the full update is formed and re-factored by truncated SVD ({@link TruncatedSvd}) to
 *   a fixed rank (or the smallest keeping a share of its energy, {@link #energy}), so the rank does not grow;
 *   exact when the rank reaches the update's. Combining the A and B
 *   factors separately instead (PEFT's {@code linear}) would add cross terms {@code Bᵢ·Aⱼ}; Graft never does.</li>
 *   <li>{@link #merged}: each adapter's full update {@code sₖ·Bₖ·Aₖ} is a task vector of weight {@code wₖ} for a
 *   task-vector merge method (TIES, DARE, ... from {@code graft-merge}, on a zero base, with its parameters such
 *   as {@code density}), and the merged update is re-factored by truncated SVD as above.</li>
 * </ul>
 * The result has scale 1 ({@code lora_alpha} equal to each module's rank). Trained biases are refused: a sum of
 * replacement biases has no meaning.
 */
public final class LoraCompose {
    /** How the updates are combined. */
    public enum Method {
        /** Concatenate factors: exact, ranks add. */
        CAT,
        /** Sum the full updates and re-factor by truncated SVD to a rank. */
        SVD
    }

    /** One composed module: its rank and the share of the summed update's energy kept. */
    public record Module(String module, int rank, double capturedEnergy) {
    }

    private final List<Path> folders = new ArrayList<>();
    private final List<Double> weights = new ArrayList<>();
    private Method method = Method.CAT;
    private int rank = 16;
    private double energy = Double.NaN;
    private MergeMethod merge;
    private final Map<String, Setting> parameters = new LinkedHashMap<>();
    private long seed;

    private LoraCompose() {
    }

    /** Starts a composition. */
    public static LoraCompose of() {
        return new LoraCompose();
    }

    /** An adapter folder and its weight. */
    public LoraCompose adapter(Path folder, double weight) {
        folders.add(folder);
        weights.add(weight);
        return this;
    }

    /**
     * The method (default {@link Method#CAT}); with {@link Method#SVD}, the rank of the result (default 16).
     *
     * @throws InvalidSettingException if {@code r} is less than 1
     */
    public LoraCompose method(Method m, int r) {
        if (r < 1) {
            throw new InvalidSettingException("rank must be positive, got " + r);
        }
        this.method = m;
        this.rank = r;
        return this;
    }

    /**
     * With {@link Method#SVD} or {@link #merged}: each module's rank is the smallest that keeps this share (0 to 1]
     * of the combined update's {@code ‖ΔW‖²}, at most the rank.
     *
     * @throws InvalidSettingException if {@code share} is not in (0, 1]
     */
    public LoraCompose energy(double share) {
        if (!(share > 0 && share <= 1)) {
            throw new InvalidSettingException("energy must be in (0, 1], got " + share);
        }
        this.energy = share;
        return this;
    }

    /**
     * Combines the full updates with a task-vector merge method ({@code MergeMethods.create("ties")}, ...) and
     * re-factors the result to rank {@code r}; {@code parameters} are the method's global ones (e.g.
     * {@code density}), {@code seed} seeds random dropping (DARE).
     */
    public LoraCompose merged(MergeMethod m, Map<String, Double> methodParameters, long dropSeed, int r) {
        method(Method.SVD, r);
        this.merge = m;
        methodParameters.forEach((k, v) -> parameters.put(k, Setting.of(v)));
        this.seed = dropSeed;
        return this;
    }

    /**
     * Composes and writes the PEFT adapter folder {@code folder}.
     *
     * @throws AdapterFormatException if an adapter is malformed or the adapters do not fit together
     * @throws dev.graft.GraftIoException if an adapter cannot be read or the folder cannot be written
     * @throws InvalidSettingException if no adapter was given
     */
    public List<Module> writeTo(Path folder) {
        if (folders.isEmpty()) {
            throw new InvalidSettingException("no adapter to compose: call adapter(...)");
        }
        List<PeftAdapter> adapters = new ArrayList<>();
        for (int k = 0; k < folders.size(); k++) {
            PeftAdapter a = PeftAdapter.read(folders.get(k));
            if (!a.biases().isEmpty()) {
                throw new AdapterFormatException(folders.get(k).resolve(PeftAdapter.CONFIG), null, "has trained "
                        + "biases (bias: " + a.config().bias() + "); replacement biases cannot be composed (extract "
                        + "the adapter with --no-biases)");
            }
            adapters.add(a);
        }
        Set<String> names = new LinkedHashSet<>();
        adapters.forEach(a -> names.addAll(a.modules().keySet()));
        Map<String, LoraModule> out = new LinkedHashMap<>();
        List<Module> report = new ArrayList<>();
        try (MatrixProducts products = new MatrixProducts(Threads.workers())) {
            for (String name : names) {
                List<LoraModule> parts = new ArrayList<>();
                List<Double> factors = new ArrayList<>();
                for (int k = 0; k < adapters.size(); k++) {
                    LoraModule m = adapters.get(k).modules().get(name);
                    if (m != null) {
                        if (!parts.isEmpty() && (m.in() != parts.get(0).in() || m.out() != parts.get(0).out())) {
                            throw new AdapterFormatException(folders.get(k).resolve(PeftAdapter.WEIGHTS), name,
                                    "updates " + m.in() + " → " + m.out() + " but another adapter's module is "
                                            + parts.get(0).in() + " → " + parts.get(0).out());
                        }
                        parts.add(m);
                        factors.add(weights.get(k) * m.scale());
                    }
                }
                LoraModule composed = method == Method.CAT ? cat(name, parts, factors) : svd(name, parts, factors,
                        products, report);
                if (method == Method.CAT) {
                    report.add(new Module(name, composed.rank(), 1.0));
                }
                out.put(name, composed);
            }
        }
        int r = out.values().stream().mapToInt(LoraModule::rank).max().orElseThrow();
        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        Map<String, Double> alphaPattern = new LinkedHashMap<>();
        out.values().stream().filter(m -> m.rank() != r).forEach(m -> {
            rankPattern.put(m.name(), m.rank());
            alphaPattern.put(m.name(), (double) m.rank());
        });
        new PeftAdapter(new PeftConfig(r, r, false, false, rankPattern, alphaPattern, List.copyOf(names), "none",
                Map.of()), out, Map.of()).write(folder);
        return report;
    }

    private static LoraModule cat(String name, List<LoraModule> parts, List<Double> factors) {
        int in = parts.get(0).in();
        int out = parts.get(0).out();
        int total = parts.stream().mapToInt(LoraModule::rank).sum();
        float[] a = new float[total * in];
        float[] b = new float[out * total];
        int at = 0;
        for (int p = 0; p < parts.size(); p++) {
            LoraModule m = parts.get(p);
            float f = factors.get(p).floatValue();
            for (int k = 0; k < m.rank(); k++) {
                for (int i = 0; i < in; i++) {
                    a[(at + k) * in + i] = f * m.a()[k * in + i];
                }
                for (int o = 0; o < out; o++) {
                    b[o * total + at + k] = m.b()[o * m.rank() + k];
                }
            }
            at += m.rank();
        }
        return new LoraModule(name, total, in, out, a, b, 1.0);
    }

    private LoraModule svd(String name, List<LoraModule> parts, List<Double> factors, MatrixProducts products,
                           List<Module> report) {
        int in = parts.get(0).in();
        int out = parts.get(0).out();
        float[] sum = new float[out * in];
        if (merge != null) {
            float[][] updates = new float[parts.size()][];
            List<Map<String, Setting>> perModel = new ArrayList<>();
            for (int p = 0; p < parts.size(); p++) {
                updates[p] = parts.get(p).delta();
                perModel.add(Map.of("weight", Setting.of(factors.get(p) / parts.get(p).scale())));
            }
            Map<String, ParameterSpec> specs = new LinkedHashMap<>();
            merge.parameters().forEach(s -> specs.put(s.name(), s));
            ResolvedParameters resolved = new ResolvedParameters(name, 0, specs, parameters, perModel);
            try (TensorInputs inputs = new TensorInputs(name, new long[] {out, in}, false, new float[sum.length],
                    updates, resolved, seed, new TensorDiagnostics.Recorder(parts.size()))) {
                merge.merge(inputs, sum);
            }
        } else {
            for (int p = 0; p < parts.size(); p++) {
                LoraModule m = parts.get(p);
                float[] d = new LoraModule(name, m.rank(), in, out, m.a(), m.b(), factors.get(p)).delta();
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += d[i];
                }
            }
        }
        TruncatedSvd.Factors all = TruncatedSvd.of(sum, out, in, rank, products);
        TruncatedSvd.Factors f = Double.isNaN(energy) ? all : all.truncated(all.rankFor(energy));
        report.add(new Module(name, f.rank(), f.capturedEnergy()));
        return new LoraModule(name, f.rank(), in, out, f.a(), f.b(), 1.0);
    }
}
