package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A recursive model with layer-wise LoRA (Bae et al., <i>Relaxed Recursive Transformers: Effective Parameter
 * Sharing with Layer-wise LoRA</i>, ICLR 2025), made from a trained model without training: its {@code L} layers'
 * dense weights are tied into {@code K} shared blocks — consecutive layers share ({@code 0,1 → block 0}), or the
 * block sequence repeats ({@code l → block l mod K}) — each shared weight the average of the weights it replaces,
 * and each layer gets a rank-{@code r} LoRA from the truncated SVD of its own weight minus the shared one
 * ({@link TruncatedSvd}). The graph's tied layers read the same initializers, plus their LoRA branches with baked
 * factors ({@link LoraRuntime}), so the file shrinks; at full rank it computes the original exactly. Biases and
 * normalisations stay per layer. Weight-only: the data-aware fit is not done here.
 */
public final class RecursiveModel {
    private static final Pattern LAYER = Pattern.compile("(^|\\.)(layer|layers|h|block|blocks)\\.(\\d+)(?=\\.|$)");

    /** How layers map to blocks. */
    public enum Tying {
        /** Consecutive layers share a block. */
        CONSECUTIVE,
        /** The block sequence repeats: layer {@code l} uses block {@code l mod K}. */
        CYCLIC
    }

    /** What the conversion did: parameters before and after, and each module's captured energy of its residual. */
    public record Report(int layers, int blocks, String tying, int rank, long denseParametersBefore,
                         long denseParametersAfter, Map<String, Double> capturedEnergy) {
    }

    private final Path model;
    private int blocks = 6;
    private Tying tying = Tying.CONSECUTIVE;
    private int rank = 64;

    private RecursiveModel(Path model) {
        this.model = model;
    }

    /** Converts {@code model}. */
    public static RecursiveModel of(Path model) {
        return new RecursiveModel(model);
    }

    /** The number of shared blocks (must divide the number of layers; default 6). */
    public RecursiveModel blocks(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("blocks must be positive, got " + k);
        }
        this.blocks = k;
        return this;
    }

    /** The tying pattern (default consecutive). */
    public RecursiveModel tying(Tying t) {
        this.tying = t;
        return this;
    }

    /** Each layer's LoRA rank (0: none; default 64). */
    public RecursiveModel rank(int r) {
        if (r < 0) {
            throw new IllegalArgumentException("rank must be 0 or more, got " + r);
        }
        this.rank = r;
        return this;
    }

    /** Converts and writes the model to {@code target}. */
    public Report writeTo(Path target) {
        try (OnnxModel m = OnnxModel.open(model);
             MatrixProducts products = new MatrixProducts(Runtime.getRuntime().availableProcessors())) {
            Map<String, ModuleMap.Target> targets = new ModuleMap(m, Map.of()).targets();
            Map<String, Map<Integer, String>> kinds = new LinkedHashMap<>(); // kind → layer → module
            TreeSet<Integer> layerSet = new TreeSet<>();
            for (String path : targets.keySet()) {
                Matcher x = LAYER.matcher(path);
                if (x.find()) {
                    int layer = Integer.parseInt(x.group(3));
                    String kind = path.substring(0, x.start(3)) + "*" + path.substring(x.end(3));
                    kinds.computeIfAbsent(kind, k -> new LinkedHashMap<>()).put(layer, path);
                    layerSet.add(layer);
                }
            }
            int layers = layerSet.size();
            if (layers == 0 || layers % blocks != 0 || layerSet.last() != layers - 1) {
                throw new GraftException(model, null, "has " + layers + " numbered layers " + layerSet
                        + "; " + blocks + " blocks must divide them");
            }
            Map<String, String> tied = new LinkedHashMap<>();
            List<OutputTensor> shared = new ArrayList<>();
            Map<String, LoraModule> loras = new LinkedHashMap<>();
            Map<String, Double> captured = new LinkedHashMap<>();
            long before = 0;
            long after = 0;
            for (Map.Entry<String, Map<Integer, String>> kind : kinds.entrySet()) {
                if (kind.getValue().size() != layers) {
                    continue; // a kind missing in some layers stays as it is
                }
                for (int b = 0; b < blocks; b++) {
                    List<Integer> members = new ArrayList<>();
                    for (int l = 0; l < layers; l++) {
                        if (blockOf(l, layers) == b) {
                            members.add(l);
                        }
                    }
                    ModuleMap.Target first = targets.get(kind.getValue().get(members.get(0)));
                    long[] shape = m.weight(first.weight()).orElseThrow().shape();
                    float[] mean = null;
                    List<float[]> own = new ArrayList<>();
                    for (int l : members) {
                        ModuleMap.Target t = targets.get(kind.getValue().get(l));
                        float[] w = m.weight(t.weight()).orElseThrow().toFloats();
                        own.add(w);
                        if (mean == null) {
                            mean = new float[w.length];
                        }
                        for (int i = 0; i < w.length; i++) {
                            mean[i] += w[i] / members.size();
                        }
                    }
                    String name = "recursive.block" + b + "." + kind.getKey().replace(".*.", ".") + ".weight";
                    float[] sharedValues = mean;
                    shared.add(OutputTensor.of(name, ElementType.FLOAT, shape, () -> sharedValues));
                    before += (long) members.size() * sharedValues.length;
                    after += sharedValues.length;
                    for (int j = 0; j < members.size(); j++) {
                        String module = kind.getValue().get(members.get(j));
                        ModuleMap.Target t = targets.get(module);
                        tied.put(t.weight(), name);
                        if (rank == 0) {
                            continue;
                        }
                        int in = (int) t.in();
                        int out = (int) t.out();
                        float[] delta = t.outIn(own.get(j));
                        float[] common = t.outIn(sharedValues);
                        for (int k = 0; k < delta.length; k++) {
                            delta[k] -= common[k];
                        }
                        TruncatedSvd.Factors f = TruncatedSvd.of(delta, out, in, rank, products);
                        loras.put(module, new LoraModule(module, f.rank(), in, out, f.a(), f.b(), 1.0));
                        captured.put(module, f.capturedEnergy());
                        after += (long) f.rank() * (in + out);
                    }
                }
            }
            if (tied.isEmpty()) {
                throw new GraftException(model, null, "has no dense weight kind present in every layer to share");
            }
            PeftAdapter adapter = new PeftAdapter(PeftConfig.of(Math.max(1, rank), Math.max(1, rank),
                    List.of()), loras, Map.of());
            LoraRuntime.bakedAndTied(model, adapter, tied, shared, target);
            return new Report(layers, blocks, tying.name().toLowerCase(java.util.Locale.ROOT), rank, before, after,
                    captured);
        }
    }

    private int blockOf(int layer, int layers) {
        return tying == Tying.CONSECUTIVE ? layer / (layers / blocks) : layer % blocks;
    }
}
