package dev.graft.adapters;

import dev.graft.InvalidSettingException;
import dev.graft.exec.Threads;
import dev.graft.GraftException;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.index.GraphIndex;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.Weight;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Extracts a LoRA adapter from a fine-tuned model: for each dense weight that differs from the base,
 * {@code ΔW = W_ft − W_base} (as {@code [out, in]}) is factored by truncated SVD ({@link TruncatedSvd}),
 * {@code B = U·√S}, {@code A = √S·Vᵀ}, at a fixed rank or at the smallest rank whose singular values capture a
 * share of {@code ‖ΔW‖²} (up to a maximum rank). Changed biases of those modules are kept as trained biases
 * ({@code bias: lora_only}). The adapter is written as a PEFT folder with {@code lora_alpha} equal to each
 * module's rank (scale 1); the report gives each module's rank and captured energy, and the other initializers
 * that changed but that a LoRA cannot carry (norms, embeddings), with their relative change.
 */
public final class LoraExtract {
    /** One extracted module: its weight, rank, and the share of {@code ‖ΔW‖²} captured. */
    public record Module(String module, String weight, int rank, double capturedEnergy) {
    }

    /** A changed initializer the adapter does not carry, with {@code ‖Δ‖ / ‖W_base‖}. */
    public record Uncaptured(String tensor, double relativeChange) {
    }

    /** What was extracted. */
    public record Report(String base, String fineTuned, List<Module> modules, List<Uncaptured> uncaptured) {
    }

    private final Path base;
    private final Path fineTuned;
    private int rank = 16;
    private double energy = Double.NaN;
    private boolean carryBiases = true;

    private LoraExtract(Path base, Path fineTuned) {
        this.base = base;
        this.fineTuned = fineTuned;
    }

    /** The update from {@code base} to {@code fineTuned}, two models of one graph. */
    public static LoraExtract from(Path base, Path fineTuned) {
        return new LoraExtract(base, fineTuned);
    }

    /**
     * A fixed rank for every module (default 16), or the largest rank with {@link #energy}.
     *
     * @throws InvalidSettingException if {@code r} is less than 1
     */
    public LoraExtract rank(int r) {
        if (r < 1) {
            throw new InvalidSettingException("rank must be positive, got " + r);
        }
        this.rank = r;
        return this;
    }

    /**
     * Each module's rank is the smallest that captures this share (0 to 1] of {@code ‖ΔW‖²}, at most the rank.
     *
     * @throws InvalidSettingException if {@code share} is not in (0, 1]
     */
    public LoraExtract energy(double share) {
        if (!(share > 0 && share <= 1)) {
            throw new InvalidSettingException("energy must be in (0, 1], got " + share);
        }
        this.energy = share;
        return this;
    }

    /**
     * Whether changed biases of the extracted modules go along as trained biases (default true); without them the
     * adapter can be composed, shared and exported as run-time branches, and the biases are reported uncaptured.
     */
    public LoraExtract biases(boolean carry) {
        this.carryBiases = carry;
        return this;
    }

    /**
     * Extracts and writes the PEFT adapter folder {@code folder}.
     *
     * @throws dev.graft.GraftException naming the tensor when the fine-tune's tensors differ in shape from the
     *                                  base's, or when no dense weight changed; or when a file cannot be read or
     *                                  written
     */
    public Report writeTo(Path folder) {
        try (OnnxModel mb = OnnxModel.open(base); OnnxModel mf = OnnxModel.open(fineTuned);
             MatrixProducts products = new MatrixProducts(Threads.workers())) {
            WeightUpdates updates = new WeightUpdates(mb, mf);
            Map<String, LoraModule> modules = new LinkedHashMap<>();
            Map<String, float[]> biases = new LinkedHashMap<>();
            Map<String, Integer> ranks = new LinkedHashMap<>();
            List<Module> report = new ArrayList<>();
            Set<String> carried = new HashSet<>();
            for (Map.Entry<String, ModuleMap.Target> e : updates.targets().entrySet()) {
                ModuleMap.Target t = e.getValue();
                float[] delta = updates.of(e.getKey(), t);
                if (delta == null) {
                    continue;
                }
                int in = (int) t.in();
                int out = (int) t.out();
                TruncatedSvd.Factors all = TruncatedSvd.of(delta, out, in, rank, products);
                TruncatedSvd.Factors f = Double.isNaN(energy) ? all : all.truncated(all.rankFor(energy));
                String name = e.getKey();
                modules.put(name, new LoraModule(name, f.rank(), in, out, f.a(), f.b(), 1.0));
                ranks.put(name, f.rank());
                carried.add(t.weight());
                QuantizedMatMul q = updates.quantized(t.weight());
                if (q != null) { // the scales (and zero points) are part of the weight the LoRA captures
                    carried.add(q.scales().name());
                    if (q.zeroPoints() != null) {
                        carried.add(q.zeroPoints().name());
                    }
                }
                report.add(new Module(name, t.weight(), f.rank(), f.capturedEnergy()));
                if (t.bias() != null && carryBiases) {
                    float[] bb = mb.weight(t.bias()).orElseThrow().toFloats();
                    float[] bf = updates.weight(t.bias(), new long[] {out}).toFloats();
                    carried.add(t.bias());
                    if (!Arrays.equals(bb, bf)) {
                        biases.put(name, bf);
                    }
                }
            }
            if (modules.isEmpty()) {
                throw new GraftException(fineTuned, null, "has the same dense weights as " + base
                        + ": there is no update to extract");
            }
            for (TiedWeights.Tie t : TiedWeights.of(mb, GraphIndex.of(mb))) {
                // a head tied to the embedding in both models: its LoRA is the embedding's too (LoraApply keeps the tie)
                Weight table = mf.weight(t.table()).orElse(null);
                Weight copy = mf.weight(t.copy()).orElse(null);
                if (carried.contains(t.copy()) && table != null && copy != null
                        && TiedWeights.holds(table, copy, t.transposed())) {
                    carried.add(t.table());
                }
            }
            List<Uncaptured> uncaptured = uncaptured(mb, mf, carried);
            PeftConfig config = PeftConfig.unitScale(ranks, List.copyOf(modules.keySet()),
                    biases.isEmpty() ? "none" : "lora_only");
            mb.checkUnchanged(null); // what was read from the mappings is what the files hold
            mf.checkUnchanged(null);
            new PeftAdapter(config, modules, biases).write(folder);
            return new Report(base.toString(), fineTuned.toString(), report, uncaptured);
        }
    }

    private static List<Uncaptured> uncaptured(OnnxModel mb, OnnxModel mf, Set<String> carried) {
        List<Uncaptured> out = new ArrayList<>();
        for (Weight w : mb.initializers()) {
            if (carried.contains(w.name()) || !w.type().isFloatingPoint()) {
                continue;
            }
            var f = mf.weight(w.name());
            if (f.isEmpty() || !Arrays.equals(f.get().shape(), w.shape())) {
                continue;
            }
            float[] x = w.toFloats();
            float[] y = f.get().toFloats();
            double d = 0;
            double n = 0;
            for (int i = 0; i < x.length; i++) {
                d += (double) (y[i] - x[i]) * (y[i] - x[i]);
                n += (double) x[i] * x[i];
            }
            if (d > 0) {
                out.add(new Uncaptured(w.name(), Math.sqrt(d / Math.max(n, 1e-30))));
            }
        }
        return out;
    }
}
