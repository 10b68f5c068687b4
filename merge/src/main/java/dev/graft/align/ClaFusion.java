package dev.graft.align;

import dev.graft.UnsupportedModelException;
import dev.graft.data.Calibration;
import dev.graft.graph.AffineLayer;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CLAFusion (Nguyen et al., "Cross-Layer Alignment for Model Fusion of Heterogeneous Neural Networks", ICASSP 2023):
 * two models of different depths fused by {@link OtFusion} once their depths are balanced. The layers are aligned by
 * their representations on calibration data: linear CKA (Kornblith et al., ICML 2019) between every layer of the
 * shallower model and every one of the deeper, and a monotone one-to-one alignment maximising the summed CKA by
 * dynamic programming, the first layers pinned to each other ({@link LayerSimilarity}); or by the transport cost of
 * their weights ({@link LayerCost#WEIGHTS}); or as given ({@link #layers}). Then:
 * <ul>
 * <li>plain MLPs (dense layers, each hidden one followed by ReLU): the shallower model is deepened, a hidden layer of
 * the deeper model that no layer is aligned to getting an identity layer ({@code W = I}, bias 0: after a ReLU the
 * input is non-negative, so {@code ReLU(I·h) = h} and the deepened model computes the same function); the result has
 * the deeper model's depth and widths;</li>
 * <li>residual networks and transformers (numbered layers of equal shapes, {@link LayerStack}; the last layers pinned
 * too): in the deeper model's depth, the shallower one's layers at their aligned places and identity blocks elsewhere
 * (the deeper model's own block with its residual-branch outputs zeroed: exact in a pre-norm network), or in the
 * shallower one's depth, the deeper model's layers merged segment by segment into its aligned ones (each unaligned
 * layer matched unit by unit to the running mean of its segment, the residual stream shared) or left out
 * ({@link Depth}, {@link #mergeLayers}); the other model is written into the target's graph
 * ({@link LayerTransplant}).</li>
 * </ul>
 */
public final class ClaFusion {
    private final Path a;
    private final Path b;
    private final Calibration data;
    private OtFusion.Solver solver = OtFusion.Solver.EXACT;
    private double weight = 0.5;
    private Depth depth = Depth.DEEPER;
    private boolean permuteOutputs;
    private List<Integer> layers;
    private LayerCost layerCost = LayerCost.CKA;
    private boolean mergeLayers = true;
    private boolean activationCost;

    /** How two layers are compared for the layer alignment (residual networks; MLPs use CKA). */
    public enum LayerCost {
        /** Linear CKA of their outputs on the calibration data (the paper's). */
        CKA,
        /**
         * Their weights: the shallower model's layer {@code i} put in every layer of the deeper model and fused by
         * OTFusion's plans (no data), the similarity of {@code (i, j)} minus the summed transport cost of layer
         * {@code j}'s groups (the distance of matched units).
         */
        WEIGHTS
    }
    private OtFusion.Distance distance = OtFusion.Distance.EUCLIDEAN;

    /** The fused model's depth (transformers; MLPs are fused in the deeper one's). */
    public enum Depth {
        /** The deeper model's: identity blocks where the shallower one has no aligned layer. */
        DEEPER,
        /**
         * The shallower model's: the deeper model's layers that no layer is aligned to are merged into the aligned
         * layer before them, or left out ({@link #mergeLayers}).
         */
        SHALLOWER
    }

    /**
     * What was fused: the model whose graph the result has, for each hidden layer (transformers: each layer) of the
     * shallower model the one of the deeper model it was aligned to (0-based), the layers' similarities
     * ({@code [shallow][deep]}: linear CKA, or with {@link LayerCost#WEIGHTS} minus the mean distance of their matched
     * units), and the OTFusion that made the result.
     */
    public record Report(Path target, String targetModel, List<Integer> alignment, double[][] similarity,
                         OtFusion.Report fusion) {
    }

    private ClaFusion(Path a, Path b, Calibration data) {
        this.a = a;
        this.b = b;
        this.data = data;
    }

    /**
     * The fusion of {@code a} and {@code b} (depths may differ), layers aligned on {@code data} (null with
     * {@link LayerCost#WEIGHTS}, which needs none).
     */
    public static ClaFusion of(Path a, Path b, Calibration data) {
        return new ClaFusion(a, b, data);
    }

    /** How layers are compared (default {@link LayerCost#CKA}); residual networks only. */
    public ClaFusion layerCost(LayerCost cost) {
        this.layerCost = cost;
        return this;
    }

    /**
     * The OTFusion ground cost from the units' activations on the calibration data instead of their weights
     * ({@link OtFusion#activations}; default false); residual networks only.
     */
    public ClaFusion activationCost(boolean on) {
        this.activationCost = on;
        return this;
    }

    /** The OTFusion ground cost (default Euclidean; {@link OtFusion#distance}). */
    public ClaFusion distance(OtFusion.Distance distance) {
        this.distance = distance;
        return this;
    }

    /** The OTFusion solver (default exact). */
    public ClaFusion solver(OtFusion.Solver solver) {
        this.solver = solver;
        return this;
    }

    /**
     * The deeper model's share {@code s} in the fusion (default 0.5; {@link OtFusion#weight}).
     *
     * @throws dev.graft.InvalidSettingException if not in [0, 1]
     */
    public ClaFusion weight(double s) {
        if (!(s >= 0 && s <= 1)) {
            throw new dev.graft.InvalidSettingException("the fusion weight must be in [0, 1], got " + s);
        }
        this.weight = s;
        return this;
    }

    /**
     * Lets groups reach the graph's outputs (default false; {@link OtFusion#permuteOutputs}): for encoders trained
     * apart whose outputs are the residual stream (sentence embeddings); transformers only.
     */
    public ClaFusion permuteOutputs(boolean on) {
        this.permuteOutputs = on;
        return this;
    }

    /**
     * A layer alignment to use instead of the one CKA finds (residual networks): for each layer of the shallower
     * model, the deeper model's layer it pairs with, 0-based and increasing; for models whose lineage is known (a
     * 6-layer model distilled from every second layer of a 12-layer one). The CKA matrix is still reported.
     */
    public ClaFusion layers(List<Integer> alignment) {
        this.layers = List.copyOf(alignment);
        return this;
    }

    /**
     * In the shallower depth, whether the deeper model's layers that no layer is aligned to are merged into the
     * aligned layer before them (default true: each segment's layers matched unit by unit and averaged) or left out.
     */
    public ClaFusion mergeLayers(boolean on) {
        this.mergeLayers = on;
        return this;
    }

    /**
     * The fused model's depth (default {@link Depth#DEEPER}); transformers only.
     */
    public ClaFusion depth(Depth depth) {
        this.depth = depth;
        return this;
    }

    /**
     * Writes the fused model to {@code out}.
     *
     * @throws UnsupportedModelException naming the file and weight if a model is neither a plain ReLU MLP nor a
     *     stack of numbered layers
     * @throws dev.graft.IncompatibleModelsException naming the files and weight if two layers do not pair
     */
    public Report writeTo(Path out) {
        if (data == null && layerCost == LayerCost.CKA) {
            throw new dev.graft.InvalidSettingException("CLAFusion aligns layers by CKA on calibration data; give "
                    + "data, or compare layers by their weights");
        }
        if (!isMlp(a) || !isMlp(b)) {
            return fuseLayers(out);
        }
        if (depth != Depth.DEEPER || permuteOutputs || layers != null || layerCost != LayerCost.CKA || activationCost) {
            throw new dev.graft.InvalidSettingException("MLPs are fused in the deeper model's depth (identity layers "
                    + "after a ReLU are exact) with their classes fixed and hidden layers aligned by CKA; the "
                    + "shallower depth, permuted outputs, a given alignment, the weight layer cost and activation "
                    + "costs are for residual networks");
        }
        List<AffineLayer> la = mlp(a);
        List<AffineLayer> lb = mlp(b);
        boolean aDeeper = la.size() > lb.size();
        Path shallow = aDeeper ? b : a;
        Path deep = aDeeper ? a : b;
        List<AffineLayer> ls = aDeeper ? lb : la;
        List<AffineLayer> ld = aDeeper ? la : lb;
        double[][] cka = LayerSimilarity.cka(data, shallow, hidden(ls), deep, hidden(ld));
        List<Integer> alignment = LayerSimilarity.align(cka);
        try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
            Path deepened = scratch.resolve("deepened.onnx");
            LayerTransplant.deepen(shallow, ls, deep, ld, alignment, deepened);
            OtFusion fusion = OtFusion.of(deepened, deep).solver(solver).weight(weight).distance(distance);
            OtFusion.Report r = fusion.writeTo(out);
            return new Report(out, deep.getFileName().toString(), alignment, cka, r);
        }
    }

    /**
     * Transformers and other residual networks (any stack of numbered layers with equal shapes layer for layer,
     * {@link LayerStack}): the layers' outputs compared by CKA over every real token (or sample) of the data, both
     * first and both last layers pinned, then the other model written in the target's graph (the deeper one's, with
     * identity blocks where no layer is aligned: the target's own block with its residual-branch outputs zeroed,
     * which the fusion then leaves in the target's units, so the fused block is the target's with its branch
     * outputs scaled by {@code s}; exact identities in a pre-norm network, not after a post-norm block's LayerNorm;
     * or the shallower one's, with the deeper model's aligned layers), and OTFusion of the two.
     */
    private Report fuseLayers(Path out) {
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b)) {
            LayerStack sa = LayerStack.of(ma).orElseThrow(() -> new UnsupportedModelException(a, null,
                    "is neither a plain ReLU MLP nor a stack of numbered layers; CLAFusion fuses those"));
            LayerStack sb = LayerStack.of(mb).orElseThrow(() -> new UnsupportedModelException(b, null,
                    "is neither a plain ReLU MLP nor a stack of numbered layers; CLAFusion fuses those"));
            boolean aDeeper = sa.depth() > sb.depth();
            OnnxModel shallow = aDeeper ? mb : ma;
            OnnxModel deep = aDeeper ? ma : mb;
            LayerStack ss = aDeeper ? sb : sa;
            LayerStack sd = aDeeper ? sa : sb;
            List<Integer> given = layers == null ? null : LayerSimilarity.checked(layers, ss.depth(), sd.depth());
            double[][] cka = layerCost == LayerCost.CKA ? layerCka(shallow, ss, deep, sd)
                    : layerWeights(shallow, ss, deep, sd, out);
            List<Integer> alignment = given != null ? given : LayerSimilarity.align(cka, true);
            OnnxModel target = depth == Depth.DEEPER ? deep : shallow;
            try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
                Path other = scratch.resolve("aligned-layers.onnx");
                java.util.Set<String> own = depth == Depth.DEEPER
                        ? LayerTransplant.deepened(shallow, ss, deep, sd, alignment, other)
                        : LayerTransplant.shallowed(shallow, ss, deep, sd, alignment, other);
                if (depth == Depth.SHALLOWER && mergeLayers) {
                    other = mergeSegments(other, shallow, ss, deep, sd, alignment, scratch);
                }
                OtFusion fusion = OtFusion.of(other, target.file()).permuteOutputs(permuteOutputs).ownWeights(own)
                        .distance(distance).solver(solver).weight(weight);
                if (activationCost) {
                    if (data == null) {
                        throw new dev.graft.InvalidSettingException("the activation cost needs calibration data");
                    }
                    fusion.activations(data);
                }
                OtFusion.Report r = fusion.writeTo(out);
                return new Report(out, target.file().getFileName().toString(), alignment, cka, r);
            }
        }
    }

    /**
     * Linear CKA between the outputs of every layer of the two models ({@code [shallow][deep]}), over every real
     * token: a layer's output is the next layer's input, the last layer's the graph's first output.
     */
    private double[][] layerCka(OnnxModel shallow, LayerStack ss, OnnxModel deep, LayerStack sd) {
        return LayerSimilarity.cka(data, shallow.file(), outputs(shallow, ss), deep.file(), outputs(deep, sd));
    }

    /** An MLP's hidden representations: the inputs of its layers after the first. */
    private static List<String> hidden(List<AffineLayer> layers) {
        return layers.subList(1, layers.size()).stream().map(AffineLayer::input).toList();
    }

    /**
     * Minus the transport cost of every layer pair ({@link LayerCost#WEIGHTS}): for each of the shallower model's
     * layers, a model in the deeper one's graph with that layer in every layer, fused by OTFusion's plans with the
     * deeper model; the cost of {@code (i, j)} is the sum over layer {@code j}'s top-level groups.
     */
    private double[][] layerWeights(OnnxModel shallow, LayerStack ss, OnnxModel deep, LayerStack sd, Path out) {
        PermutationSpec spec = Alignment.spec(deep.file(), permuteOutputs, dev.graft.verify.ProbeOptions.defaults());
        java.util.Map<String, Integer> layerOfGroup = new java.util.HashMap<>();
        for (PermutationSpec.Group g : spec.groups()) {
            if (!g.nested()) {
                layerOfGroup.put(g.name(), sd.layerOf(g.members().get(0).weight()));
            }
        }
        double[][] similarity = new double[ss.depth()][sd.depth()];
        try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
            for (int i = 0; i < ss.depth(); i++) {
                Path repeated = scratch.resolve("layer-" + i + ".onnx");
                LayerTransplant.repeated(shallow, ss, deep, sd, i, repeated);
                OtFusion.Report r = OtFusion.of(repeated, deep.file()).permuteOutputs(permuteOutputs)
                        .distance(distance).plan();
                for (OtFusion.GroupReport g : r.groups()) {
                    Integer l = layerOfGroup.get(g.name());
                    if (l != null && l >= 0) {
                        similarity[i][l] -= g.cost();
                    }
                }
            }
        }
        return similarity;
    }

    /**
     * The deeper model's layers merged into the shallower one's depth: each of the shallower model's layers {@code k}
     * gets the segment of the deeper model's layers from {@code alignment[k]} to the next aligned one (the first
     * segment from layer 0, the last to the end), merged one layer at a time by OTFusion into the running mean
     * ({@code weight r/(r+1)} for the {@code r}-th layer after the first): the layers' own units (heads, FFN units)
     * matched, the residual stream shared, so kept as it is. Returns the merged model, in the shallower one's graph.
     */
    private Path mergeSegments(Path aligned, OnnxModel shallow, LayerStack ss, OnnxModel deep, LayerStack sd,
                               List<Integer> alignment, TemporaryFolder scratch) {
        List<List<Integer>> segments = new ArrayList<>();
        int longest = 0;
        for (int k = 0; k < alignment.size(); k++) {
            int from = k == 0 ? 0 : alignment.get(k);
            int to = k + 1 < alignment.size() ? alignment.get(k + 1) : sd.depth();
            List<Integer> segment = new ArrayList<>();
            segment.add(alignment.get(k));
            for (int l = from; l < to; l++) {
                if (l != alignment.get(k)) {
                    segment.add(l);
                }
            }
            segments.add(segment);
            longest = Math.max(longest, segment.size());
        }
        PermutationSpec spec = Alignment.spec(shallow.file(), true, dev.graft.verify.ProbeOptions.defaults());
        int residual = ss.residualGroup(dev.graft.index.GraphIndex.of(shallow), spec);
        java.util.Set<String> shared = residual < 0 ? java.util.Set.of()
                : java.util.Set.of(spec.groups().get(residual).name());
        Path merged = aligned;
        for (int step = 1; step < longest; step++) {
            Path next = scratch.resolve("merged-" + step + ".onnx");
            Path layers = scratch.resolve("layers-" + step + ".onnx");
            java.util.Set<String> kept;
            try (OnnxModel m = OnnxModel.open(merged)) {
                kept = LayerTransplant.segmentStep(m, ss, deep, sd, segments, step, layers);
            }
            OtFusion.of(layers, merged).permuteOutputs(permuteOutputs).ownWeights(kept).fixedGroups(shared)
                    .distance(distance).solver(OtFusion.Solver.EXACT).weight(step / (step + 1.0)).writeTo(next);
            merged = next;
        }
        return merged;
    }

    /** Each layer's output: the next layer's input, and for the last one the graph's first output. */
    private static List<String> outputs(OnnxModel model, LayerStack stack) {
        List<String> out = new ArrayList<>();
        for (int l = 1; l < stack.depth(); l++) {
            out.add(stack.input(l));
        }
        out.add(model.proto().getGraph().getOutput(0).getName());
        return out;
    }

    private static boolean isMlp(Path model) {
        try {
            mlp(model);
            return true;
        } catch (UnsupportedModelException notOne) {
            return false;
        }
    }

    /**
     * The dense layers of {@code model} if it is a plain MLP: each layer reads the graph's input or the ReLU of the
     * layer before.
     */
    static List<AffineLayer> mlp(Path model) {
        try (OnnxModel m = OnnxModel.open(model)) {
            List<AffineLayer> layers = AffineLayer.find(m);
            if (layers.isEmpty()) {
                throw new UnsupportedModelException(model, null, "has no dense layers; CLAFusion fuses MLPs");
            }
            for (int k = 0; k < layers.size(); k++) {
                AffineLayer l = layers.get(k);
                if (l.patches() != null || l.norm() != null) {
                    throw new UnsupportedModelException(model, l.weight(), "is not a plain dense layer; CLAFusion "
                            + "fuses MLPs of dense layers and ReLUs for now");
                }
                if (k > 0 && !reluBetween(m, layers.get(k - 1).output(), l.input())) {
                    throw new UnsupportedModelException(model, l.weight(), "does not read the ReLU of the layer "
                            + "before; CLAFusion fuses MLPs of dense layers and ReLUs for now");
                }
            }
            return layers;
        }
    }

    private static boolean reluBetween(OnnxModel m, String from, String to) {
        return m.proto().getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("Relu")
                && n.getInputCount() == 1 && n.getInput(0).equals(from) && n.getOutput(0).equals(to));
    }

}
