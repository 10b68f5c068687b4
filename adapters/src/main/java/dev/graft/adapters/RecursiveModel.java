package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.InputGrams;
import dev.graft.exec.TensorJob;
import dev.graft.exec.Threads;
import dev.graft.index.LayerNumbers;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * A recursive model with layer-wise LoRA (Bae et al., <i>Relaxed Recursive Transformers: Effective Parameter
 * Sharing with Layer-wise LoRA</i>, ICLR 2025), made from a trained model without training. Its {@code L} layers'
 * dense weights are tied into {@code K} shared blocks — consecutive layers share ({@code 0,1 → block 0}), or the
 * block sequence repeats ({@code l → block l mod K}) — and each layer gets a rank-{@code r} LoRA for what it lost.
 * <ul>
 *   <li>Weight-only (no calibration): each shared weight is the average of the weights it replaces (or, by
 *   {@link #sharedFrom}, one of them) and each LoRA the truncated SVD of the layer's weight minus the shared one
 *   ({@link TruncatedSvd}), minimising {@code ‖W_l − S − B_l·A_l‖_F}.</li>
 *   <li>Data-aware (with {@link #calibration}): the error is measured on the layers' inputs {@code X_l} from the
 *   original model ({@link InputGrams}): the shared weight is the activation-weighted average
 *   {@code S = (Σ W_l·G_l)·(Σ G_l)⁻¹}, {@code G_l = X_lᵀX_l} (damped), which minimises
 *   {@code Σ‖(W_l − S)·X_lᵀ‖²}, and each LoRA the whitened SVD of {@code W_l − S} ({@link Whitening}).</li>
 * </ul>
 * The graph's tied layers read the same initializers, plus their LoRA branches with baked factors
 * ({@link LoraRuntime}), so the file shrinks; at full rank it computes the original exactly. Biases and
 * normalisations stay per layer. One instance may be written at several ranks; the calibration Grams are
 * gathered once.
 */
public final class RecursiveModel {

    /** How layers map to blocks. */
    public enum Tying {
        /** Consecutive layers share a block. */
        CONSECUTIVE,
        /** The block sequence repeats: layer {@code l} uses block {@code l mod K}. */
        CYCLIC
    }

    /**
     * What the conversion did: dense parameters before and after (as stored: the {@code A} that the two layers of
     * a weight-only block share counts once), how it was fitted ({@code weights} or
     * {@code activations}, with the calibration rows), and each module's captured energy of its residual (on the
     * weights, or on the layer's outputs over the calibration data).
     */
    public record Report(int layers, int blocks, String tying, int rank, String fit, long calibrationRows,
                         long denseParametersBefore, long denseParametersAfter, Map<String, Double> capturedEnergy) {
    }

    private final Path model;
    private int blocks = 6;
    private Tying tying = Tying.CONSECUTIVE;
    private int rank = 64;
    private int sharedFrom = -1;
    private Calibration calibration;
    private double damping = 1e-2;
    private int refinements = 8;
    private InputGrams grams;
    private Map<double[], Whitening> whitenings; // by Gram; kept across ranks with the Grams and the damping
    private WeightedAverage weighted;

    private RecursiveModel(Path model) {
        this.model = model;
    }

    /** Converts {@code model}. */
    public static RecursiveModel of(Path model) {
        return new RecursiveModel(model);
    }

    /**
     * The number of shared blocks (must divide the number of layers; default 6).
     *
     * @throws InvalidSettingException if {@code k} is less than 1
     */
    public RecursiveModel blocks(int k) {
        if (k < 1) {
            throw new InvalidSettingException("blocks must be positive, got " + k);
        }
        this.blocks = k;
        return this;
    }

    /** The tying pattern (default consecutive). */
    public RecursiveModel tying(Tying t) {
        this.tying = t;
        return this;
    }

    /**
     * Each layer's LoRA rank (0: none; default 64).
     *
     * @throws InvalidSettingException if {@code r} is negative
     */
    public RecursiveModel rank(int r) {
        if (r < 0) {
            throw new InvalidSettingException("rank must be 0 or more, got " + r);
        }
        this.rank = r;
        return this;
    }

    /**
     * Each block takes the weights of its {@code member}-th layer (0 is the first layer it replaces) instead of an
     * average; the other layers' LoRAs restore their differences to it.
     *
     * @throws InvalidSettingException if {@code member} is negative
     */
    public RecursiveModel sharedFrom(int member) {
        if (member < 0) {
            throw new InvalidSettingException("the shared layer's position in its block must be 0 or more, got "
                    + member);
        }
        this.sharedFrom = member;
        return this;
    }

    /** Fits on the layers' inputs over {@code data} (the data-aware fit) instead of on the weights alone. */
    public RecursiveModel calibration(Calibration data) {
        this.calibration = data;
        this.grams = null;
        this.weighted = null;
        return this;
    }

    /**
     * The damping {@code δ} of the data-aware fit, relative to the mean input energy (default 0.01).
     *
     * @throws InvalidSettingException if {@code d} is not positive
     */
    public RecursiveModel damping(double d) {
        if (!(d > 0)) {
            throw new InvalidSettingException("damping must be positive, got " + d);
        }
        this.damping = d;
        this.weighted = null;
        return this;
    }

    /**
     * How many times to refit the shared weights to what the layers' LoRAs leave, then the LoRAs to the new shared
     * weights (default 8): block coordinate descent on {@code Σ_l ‖(W_l − S − B_l·A_l)·L_l‖²} ({@code L_l = I} on
     * the weights alone), each step a minimiser given the other (up to the randomized SVD's accuracy), so the error
     * does not grow (measured on bge-small, 6 blocks, rank 64, data-aware: MRR 0.523 without, 0.539 with 2, 0.547
     * with 4, 0.553 with 8, 0.555 with 16). Not done when the shared weights are one layer's ({@link #sharedFrom}), without LoRA, at full rank
     * (exact anyway), or for weight-only blocks of two layers, which are already at the fixed point (their
     * residuals from the mean are opposite).
     *
     * @throws InvalidSettingException if {@code n} is negative
     */
    public RecursiveModel refinements(int n) {
        if (n < 0) {
            throw new InvalidSettingException("refinements must be 0 or more, got " + n);
        }
        this.refinements = n;
        return this;
    }

    /**
     * Converts and writes the model to {@code target}.
     *
     * @throws dev.graft.GraftException naming the model when its layers cannot be tied into the blocks asked for,
     *                                  a layer cannot be fitted on its inputs, or a file cannot be read or written
     */
    public Report writeTo(Path target) {
        try (OnnxModel m = OnnxModel.open(model);
             MatrixProducts products = new MatrixProducts(Threads.workers())) {
            Map<String, ModuleMap.Target> targets = new ModuleMap(m, Map.of()).targets();
            Map<String, Map<Integer, String>> kinds = new LinkedHashMap<>(); // kind → layer → module
            TreeSet<Integer> layerSet = new TreeSet<>();
            for (String path : targets.keySet()) {
                String kind = LayerNumbers.kindOf(path);
                if (kind != null) {
                    int layer = LayerNumbers.layerOf(path).getAsInt();
                    kinds.computeIfAbsent(kind, k -> new LinkedHashMap<>()).put(layer, path);
                    layerSet.add(layer);
                }
            }
            int layers = layerSet.size();
            if (layers == 0 || layers % blocks != 0 || layerSet.last() != layers - 1) {
                throw new GraftException(model, null, "has " + layers + " numbered layers " + layerSet
                        + "; " + blocks + " blocks must divide them");
            }
            if (sharedFrom >= layers / blocks) {
                throw new GraftException(model, null, "has " + layers / blocks + " layers per block, so the shared "
                        + "weights cannot come from layer " + sharedFrom + " of each block");
            }
            kinds.values().removeIf(byLayer -> byLayer.size() != layers); // a kind missing in some layers stays
            if (kinds.isEmpty()) {
                throw new GraftException(model, null, "has no dense weight kind present in every layer to share");
            }
            if (calibration != null && grams == null) {
                Map<String, Integer> widths = new LinkedHashMap<>();
                kinds.values().forEach(byLayer -> byLayer.values().forEach(p -> widths.put(targets.get(p).weight(),
                        (int) targets.get(p).in())));
                grams = InputGrams.of(model, widths, calibration);
            }
            if (weighted == null) {
                whitenings = new IdentityHashMap<>();
                weighted = new WeightedAverage(damping);
            }
            Map<String, String> tied = new LinkedHashMap<>();
            Map<String, LoraRuntime.Factors> branches = new LinkedHashMap<>();
            List<TensorJob> tensors = new ArrayList<>();
            Map<String, Double> captured = new LinkedHashMap<>();
            long before = 0;
            long after = 0;
            for (Map.Entry<String, Map<Integer, String>> kind : kinds.entrySet()) {
                for (int b = 0; b < blocks; b++) {
                    List<ModuleMap.Target> members = new ArrayList<>();
                    List<String> modules = new ArrayList<>();
                    for (int l = 0; l < layers; l++) {
                        if (blockOf(l, layers) == b) {
                            modules.add(kind.getValue().get(l));
                            members.add(targets.get(kind.getValue().get(l)));
                        }
                    }
                    String name = "recursive.block" + b + "." + kind.getKey().replace(".*.", ".") + ".weight";
                    Block block = new Block(m, name, members, modules, products, captured);
                    int in = (int) members.get(0).in();
                    int out = (int) members.get(0).out();
                    tensors.add(block.job(name, m.weight(members.get(0).weight()).orElseThrow().shape(),
                            block.fitBytes()));
                    before += (long) members.size() * in * out;
                    after += (long) in * out;
                    int r = Math.min(rank, Math.min(in, out));
                    for (int j = 0; j < members.size() && r > 0; j++) {
                        if (j == sharedFrom) {
                            continue;
                        }
                        String module = modules.get(j);
                        captured.put(module, Double.NaN);
                        // a weight-only block of two layers has residuals ±(W_0 − W_1)/2: both LoRAs share one A
                        boolean sharesA = block.pairedResiduals() && j == 1;
                        String a = LoraRuntime.inputA(sharesA ? modules.get(0) : module);
                        if (!sharesA) {
                            tensors.add(block.job(a, new long[] {in, r}, 0));
                            after += (long) r * in;
                        }
                        tensors.add(block.job(LoraRuntime.inputB(module), new long[] {r, out}, 0));
                        after += (long) r * out;
                        branches.put(module, new LoraRuntime.Factors(a, LoraRuntime.inputB(module)));
                    }
                    for (ModuleMap.Target t : members) {
                        tied.put(t.weight(), name);
                    }
                }
            }
            LoraRuntime.tied(model, branches, tied, tensors, target);
            return new Report(layers, blocks, tying.name().toLowerCase(Locale.ROOT), rank,
                    grams == null ? "weights" : "activations", grams == null ? 0 : grams.rows(), before, after,
                    captured);
        }
    }

    /**
     * One block's tensors, fitted when the first is asked for (by the writer, which takes them in order) and each
     * handed out once, so that only the blocks being written are held. Fits run one at a time: they share the
     * matrix products and the whitening cache.
     */
    private final class Block {
        private final OnnxModel source;
        private final String name;
        private final List<ModuleMap.Target> members;
        private final List<String> modules;
        private final MatrixProducts products;
        private final Map<String, Double> captured;
        private Map<String, float[]> values;

        Block(OnnxModel source, String name, List<ModuleMap.Target> members, List<String> modules,
              MatrixProducts products, Map<String, Double> captured) {
            this.source = source;
            this.name = name;
            this.members = members;
            this.modules = modules;
            this.products = products;
            this.captured = captured;
        }

        /** Whether the residuals from the shared weight are exact opposites: a plain average of two layers. */
        boolean pairedResiduals() {
            return grams == null && sharedFrom < 0 && members.size() == 2 && rank > 0;
        }

        /** What fitting holds: the members' weights, the shared one, a residual and its factors, with room. */
        long fitBytes() {
            return (members.size() + 4L) * members.get(0).in() * members.get(0).out() * Float.BYTES;
        }

        /** The job writing tensor {@code tensor} of this block; {@code fitBytes} for the first one asked for. */
        TensorJob job(String tensor, long[] shape, long fitBytes) {
            OutputTensor t = OutputTensor.of(tensor, ElementType.FLOAT, shape, () -> take(tensor));
            return new TensorJob(t, fitBytes + t.byteLength());
        }

        private float[] take(String tensor) {
            synchronized (RecursiveModel.this) {
                if (values == null) {
                    values = fitted();
                }
                float[] v = values.remove(tensor);
                if (v == null) {
                    throw new IllegalStateException("tensor '" + tensor + "' of block '" + name + "' was already "
                            + "written");
                }
                return v;
            }
        }

        /** Fits the block: its shared weight (stored as the first member's) and its members' factors. */
        private Map<String, float[]> fitted() {
            List<float[]> own = new ArrayList<>(); // [out, in]
            for (ModuleMap.Target t : members) {
                own.add(t.outIn(source.weight(t.weight()).orElseThrow().toFloats()));
            }
            ModuleMap.Target first = members.get(0);
            int in = (int) first.in();
            int out = (int) first.out();
            BlockFit fit = fit(own, members, products, pairedResiduals());
            Map<String, float[]> made = new HashMap<>();
            float[] stored = new float[out * in];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < in; i++) {
                    stored[first.at(o, i)] = fit.shared()[o * in + i];
                }
            }
            made.put(name, stored);
            for (int j = 0; j < members.size(); j++) {
                TruncatedSvd.Factors f = fit.factors()[j];
                if (f != null) {
                    LoraModule lora = new LoraModule(modules.get(j), f.rank(), in, out, f.a(), f.b(), 1.0);
                    if (!(pairedResiduals() && j == 1)) {
                        made.put(LoraRuntime.inputA(lora.name()), LoraRuntime.transposedA(lora));
                    }
                    made.put(LoraRuntime.inputB(lora.name()), LoraRuntime.scaledTransposedB(lora, 1.0));
                    captured.put(lora.name(), f.capturedEnergy());
                }
            }
            return made;
        }
    }

    /** One block's fit: the shared weight ({@code [out, in]}) and each member's LoRA factors (null: none). */
    private record BlockFit(float[] shared, TruncatedSvd.Factors[] factors) {
    }

    /** Fits a block's shared weight and its members' LoRAs to the members' weights {@code own} ({@code [out, in]}). */
    private BlockFit fit(List<float[]> own, List<ModuleMap.Target> members, MatrixProducts products,
                         boolean pairedResiduals) {
        int in = (int) members.get(0).in();
        int out = (int) members.get(0).out();
        float[] common = sharedFrom >= 0 ? own.get(sharedFrom).clone() : mean(own, members, in, out, products);
        TruncatedSvd.Factors[] factors = new TruncatedSvd.Factors[members.size()];
        boolean refine = sharedFrom < 0 && rank > 0 && rank < Math.min(in, out) && (grams != null || own.size() > 2);
        for (int pass = 0; pass <= (refine ? refinements : 0); pass++) {
            if (pass > 0) {
                List<float[]> rest = new ArrayList<>(); // W_l − B_l·A_l
                for (int j = 0; j < members.size(); j++) {
                    float[] w = own.get(j).clone();
                    float[] ba = product(factors[j], out, in, products);
                    for (int k = 0; k < w.length; k++) {
                        w[k] -= ba[k];
                    }
                    rest.add(w);
                }
                common = mean(rest, members, in, out, products);
            }
            for (int j = 0; j < members.size() && rank > 0; j++) {
                if (j == sharedFrom) {
                    continue;
                }
                if (pairedResiduals && j == 1) {
                    factors[1] = factors[0].negated(); // W_1 − S = −(W_0 − S) when S is their plain average
                    continue;
                }
                float[] delta = own.get(j).clone();
                for (int k = 0; k < delta.length; k++) {
                    delta[k] -= common[k];
                }
                factors[j] = grams == null ? TruncatedSvd.of(delta, out, in, rank, products)
                        : whitening(members.get(j)).lowRank(delta, out, rank, products);
            }
        }
        return new BlockFit(common, factors);
    }

    private int blockOf(int layer, int layers) {
        return tying == Tying.CONSECUTIVE ? layer / (layers / blocks) : layer % blocks;
    }

    /** {@code B·A} ({@code [out, in]}) of LoRA factors. */
    private static float[] product(TruncatedSvd.Factors f, int out, int in, MatrixProducts products) {
        return products.timesTransposed(f.b(), out, f.rank(), MatrixProducts.transpose(f.a(), f.rank(), in), in);
    }

    private Whitening whitening(ModuleMap.Target t) {
        try {
            return whitenings.computeIfAbsent(grams.of(t.weight()), g -> Whitening.of(g, (int) t.in(), damping));
        } catch (IllegalArgumentException e) {
            throw new GraftException(model, t.weight(), "cannot be fitted on its inputs: " + e.getMessage(), e);
        }
    }

    /** The average of {@code weights} ({@code [out, in]}): plain, or weighted by the inputs with calibration. */
    private float[] mean(List<float[]> weights, List<ModuleMap.Target> members, int in, int out,
                         MatrixProducts products) {
        if (grams != null) {
            float[] s = weighted.of(weights, members.stream().map(t -> grams.of(t.weight())).toList(), in, out,
                    products);
            if (s == null) {
                throw new GraftException(model, members.get(0).weight(), "has summed input Grams that are not "
                        + "positive definite; use a larger damping");
            }
            return s;
        }
        float[] mean = new float[weights.get(0).length];
        for (float[] w : weights) {
            for (int i = 0; i < w.length; i++) {
                mean[i] += w[i] / weights.size();
            }
        }
        return mean;
    }
}
