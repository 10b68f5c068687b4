package dev.graft.align;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.graft.UnsupportedModelException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.Execution;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.GraphEdit;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * CLAFusion (Nguyen et al., "Cross-Layer Alignment for Model Fusion of Heterogeneous Neural Networks", ICASSP 2023)
 * for plain MLPs (dense layers, each hidden one followed by ReLU): two models of different depths fused in the deeper
 * one's depth and widths. The hidden layers are aligned by their representations on calibration data: linear CKA
 * (Kornblith et al., ICML 2019) between every hidden layer of the shallower model and every one of the deeper, and a
 * monotone one-to-one alignment maximising the summed CKA by dynamic programming, the first hidden layers pinned to
 * each other. The shallower model is then deepened: a hidden layer of the deeper model that no layer is aligned to gets
 * an identity layer ({@code W = I}, bias 0: after a ReLU the input is non-negative, so {@code ReLU(I·h) = h} and the
 * deepened model computes the same function), and the two are fused by {@link OtFusion}. Merging consecutive layers
 * of the deeper model instead, residual transformer blocks (identity = zeroed residual branches) and other costs are
 * not built yet.
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
        /** The shallower model's: the deeper model's layers that no layer is aligned to are left out. */
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
     * {@code alignment} if it pairs each of the shallower model's {@code shallow} layers with one of the deeper
     * model's {@code deep}, increasing.
     *
     * @throws dev.graft.InvalidSettingException otherwise
     */
    private static List<Integer> checked(List<Integer> alignment, int shallow, int deep) {
        boolean increasing = true;
        for (int k = 1; k < alignment.size(); k++) {
            increasing &= alignment.get(k) > alignment.get(k - 1);
        }
        if (alignment.size() != shallow || !increasing || alignment.get(0) < 0
                || alignment.get(alignment.size() - 1) >= deep) {
            throw new dev.graft.InvalidSettingException("the layer alignment " + alignment + " must give each of the "
                    + "shallower model's " + shallow + " layers one of the deeper model's " + deep + " (0 to "
                    + (deep - 1) + "), increasing");
        }
        return alignment;
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
        if (depth != Depth.DEEPER || permuteOutputs || layers != null || layerCost != LayerCost.CKA) {
            throw new dev.graft.InvalidSettingException("MLPs are fused in the deeper model's depth (identity layers "
                    + "after a ReLU are exact) with their classes fixed and hidden layers aligned by CKA; the "
                    + "shallower depth, permuted outputs, a given alignment and the weight layer cost are for residual "
                    + "networks");
        }
        List<AffineLayer> la = mlp(a);
        List<AffineLayer> lb = mlp(b);
        boolean aDeeper = la.size() > lb.size();
        Path shallow = aDeeper ? b : a;
        Path deep = aDeeper ? a : b;
        List<AffineLayer> ls = aDeeper ? lb : la;
        List<AffineLayer> ld = aDeeper ? la : lb;
        double[][] cka = cka(shallow, hidden(ls), deep, hidden(ld));
        List<Integer> alignment = align(cka);
        try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
            Path deepened = scratch.resolve("deepened.onnx");
            deepen(shallow, ls, deep, ld, alignment, deepened);
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
            List<Integer> given = layers == null ? null : checked(layers, ss.depth(), sd.depth());
            double[][] cka = layerCost == LayerCost.CKA ? layerCka(shallow, ss, deep, sd)
                    : layerWeights(shallow, ss, deep, sd, out);
            List<Integer> alignment = given != null ? given : align(cka, true);
            OnnxModel target = depth == Depth.DEEPER ? deep : shallow;
            try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
                Path other = scratch.resolve("aligned-layers.onnx");
                java.util.Set<String> own = depth == Depth.DEEPER
                        ? writeDeepened(shallow, ss, deep, sd, alignment, other)
                        : writeShallowed(shallow, ss, deep, sd, alignment, other);
                OtFusion.Report r = OtFusion.of(other, target.file()).permuteOutputs(permuteOutputs).ownWeights(own).distance(distance)
                        .solver(solver).weight(weight).writeTo(out);
                return new Report(out, target.file().getFileName().toString(), alignment, cka, r);
            }
        }
    }

    /**
     * Writes the shallower model in the deeper one's graph: its layer {@code k} in layer {@code alignment[k]}, the
     * deeper model's own block with zeroed residual-branch outputs in every other layer; returns the names of the
     * latter's weights (already in the deeper model's units).
     */
    private static java.util.Set<String> writeDeepened(OnnxModel shallow, LayerStack ss, OnnxModel deep,
                                                       LayerStack sd, List<Integer> alignment, Path out) {
        PermutationSpec spec = Alignment.spec(deep.file(), true, dev.graft.verify.ProbeOptions.defaults()); // the
        // residual stream is a group even where it is the output, to find the blocks' writes into it
        java.util.Set<String> own = new java.util.HashSet<>();
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        java.util.Map<Integer, java.util.Set<String>> branches = new java.util.HashMap<>();
        for (String name : sd.names()) {
            int l = sd.layerOf(name);
            int k = l < 0 ? -1 : alignment.indexOf(l);
            if (l >= 0 && k < 0) {
                own.add(name);
                boolean zero = branches.computeIfAbsent(l, x -> sd.branchOutputs(deep, spec, x)).contains(name);
                Weight w = deep.weight(name).orElseThrow();
                values.put(name, () -> zero ? new float[(int) w.elementCount()] : w.toFloats());
            } else {
                values.put(name, pairedValues(shallow, ss.pair(sd, name, k), deep, name));
            }
        }
        writeIn(deep, values, out, "cla-deepen");
        return own;
    }

    /** Writes the deeper model in the shallower one's graph: layer {@code alignment[k]} in layer {@code k}. */
    private static java.util.Set<String> writeShallowed(OnnxModel shallow, LayerStack ss, OnnxModel deep,
                                                        LayerStack sd, List<Integer> alignment, Path out) {
        java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
        for (String name : ss.names()) {
            int l = ss.layerOf(name);
            values.put(name, pairedValues(deep, sd.pair(ss, name, l < 0 ? -1 : alignment.get(l)), shallow, name));
        }
        writeIn(shallow, values, out, "cla-shallow");
        return java.util.Set.of();
    }

    /**
     * The values of {@code from}'s weight {@code name}, to be written as {@code into}'s weight {@code as}.
     *
     * @throws dev.graft.IncompatibleModelsException naming both if their shapes differ
     */
    private static java.util.function.Supplier<float[]> pairedValues(OnnxModel from, String name, OnnxModel into,
                                                                     String as) {
        Weight w = from.weight(name).orElseThrow();
        Weight t = into.weight(as).orElseThrow();
        if (!java.util.Arrays.equals(w.shape(), t.shape())) {
            throw new dev.graft.IncompatibleModelsException(from.file(), name, "is " + java.util.Arrays.toString(
                    w.shape()) + " but pairs with " + into.file() + "'s " + as + ", which is " + java.util.Arrays
                    .toString(t.shape()) + "; CLAFusion of transformers pairs layers of equal widths");
        }
        return w::toFloats;
    }

    /** Writes {@code template}'s graph with {@code values} for its float weights (the rest copied). */
    private static void writeIn(OnnxModel template, java.util.Map<String, java.util.function.Supplier<float[]>> values,
                                Path out, String stage) {
        RewritePlan.Builder plan = RewritePlan.of(stage, GraphEdit.of(template).clearValueInfo().build())
                .input(template);
        for (Weight w : template.initializers()) {
            java.util.function.Supplier<float[]> v = values.get(w.name());
            if (v == null) {
                plan.copy(w);
            } else {
                plan.compute(OutputTensor.of(w.name(), ElementType.FLOAT, w.shape(), v::get), 8L * w.elementCount());
            }
        }
        Rewriter.write(plan.build(), out, Execution.defaults());
    }

    /**
     * Linear CKA between the outputs of every layer of the two models ({@code [shallow][deep]}), over every real
     * token: a layer's output is the next layer's input, the last layer's the graph's first output.
     */
    private double[][] layerCka(OnnxModel shallow, LayerStack ss, OnnxModel deep, LayerStack sd) {
        return cka(shallow.file(), outputs(shallow, ss), deep.file(), outputs(deep, sd));
    }

    /** An MLP's hidden representations: the inputs of its layers after the first. */
    private static List<String> hidden(List<AffineLayer> layers) {
        return layers.subList(1, layers.size()).stream().map(AffineLayer::input).toList();
    }

    /**
     * Linear CKA ({@code ‖XᵀY‖²_F / (‖XᵀX‖_F·‖YᵀY‖_F)} of centred representations; Kornblith et al., ICML 2019)
     * between each value of {@code shallowValues} in {@code shallow} and each of {@code deepValues} in {@code deep}
     * ({@code [shallow][deep]}), over every sample (and real token) of the data, the products in ONNX Runtime.
     */
    private double[][] cka(Path shallow, List<String> shallowValues, Path deep, List<String> deepValues) {
        List<List<String>> values = List.of(shallowValues, deepValues);
        List<List<List<float[]>>> rows = List.of(new ArrayList<>(), new ArrayList<>());
        int[][] widths = {new int[values.get(0).size()], new int[values.get(1).size()]};
        for (int m = 0; m < 2; m++) {
            for (String v : values.get(m)) {
                rows.get(m).add(new ArrayList<>());
            }
        }
        try (Activations runs = Activations.of(List.of(shallow, deep), values)) {
            runs.run(data, batch -> {
                for (int m = 0; m < 2; m++) {
                    for (int k = 0; k < values.get(m).size(); k++) {
                        var o = batch.output(m, values.get(m).get(k));
                        widths[m][k] = (int) o.shape()[o.shape().length - 1];
                        rows.get(m).get(k).add(o.values());
                    }
                }
            }, ProgressListener.NONE, "cla");
        }
        List<List<float[]>> centred = List.of(new ArrayList<>(), new ArrayList<>());
        for (int m = 0; m < 2; m++) {
            for (int k = 0; k < rows.get(m).size(); k++) {
                centred.get(m).add(centredTransposed(rows.get(m).get(k), widths[m][k]));
                rows.get(m).get(k).clear();
            }
        }
        int ns = values.get(0).size();
        int nd = values.get(1).size();
        int samples = centred.get(0).get(0).length / widths[0][0];
        double[][] cka = new double[ns][nd];
        try (dev.graft.linalg.MatrixProducts products = new dev.graft.linalg.MatrixProducts(
                dev.graft.exec.Threads.workers())) {
            double[][] self = {new double[ns], new double[nd]};
            for (int m = 0; m < 2; m++) {
                for (int k = 0; k < self[m].length; k++) {
                    float[] x = centred.get(m).get(k);
                    self[m][k] = frobenius(products, x, widths[m][k], x, widths[m][k], samples);
                }
            }
            for (int i = 0; i < ns; i++) {
                for (int j = 0; j < nd; j++) {
                    double xy = frobenius(products, centred.get(0).get(i), widths[0][i], centred.get(1).get(j),
                            widths[1][j], samples);
                    cka[i][j] = self[0][i] == 0 || self[1][j] == 0 ? 0 : xy * xy / (self[0][i] * self[1][j]);
                }
            }
        }
        return cka;
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
        double[][] out2 = new double[ss.depth()][sd.depth()];
        try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
            for (int i = 0; i < ss.depth(); i++) {
                int layer = i;
                java.util.Map<String, java.util.function.Supplier<float[]>> values = new java.util.LinkedHashMap<>();
                for (String name : sd.names()) {
                    int l = sd.layerOf(name);
                    values.put(name, pairedValues(shallow, ss.pair(sd, name, l < 0 ? -1 : layer), deep, name));
                }
                Path repeated = scratch.resolve("layer-" + i + ".onnx");
                writeIn(deep, values, repeated, "cla-layer-cost");
                OtFusion.Report r = OtFusion.of(repeated, deep.file()).permuteOutputs(permuteOutputs)
                        .distance(distance).plan();
                for (OtFusion.GroupReport g : r.groups()) {
                    Integer l = layerOfGroup.get(g.name());
                    if (l != null && l >= 0) {
                        out2[i][l] -= g.cost();
                    }
                }
            }
        }
        return out2;
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

    /** The rows of {@code chunks} (each {@code [rows × width]}) centred and transposed to {@code [width × rows]}. */
    private static float[] centredTransposed(List<float[]> chunks, int width) {
        int n = chunks.stream().mapToInt(c -> c.length / width).sum();
        double[] mean = new double[width];
        for (float[] c : chunks) {
            for (int k = 0; k < c.length; k++) {
                mean[k % width] += c[k];
            }
        }
        float[] out = new float[n * width];
        int row = 0;
        for (float[] c : chunks) {
            for (int r = 0; r < c.length / width; r++, row++) {
                for (int u = 0; u < width; u++) {
                    out[u * n + row] = (float) (c[r * width + u] - mean[u] / n);
                }
            }
        }
        return out;
    }

    /** {@code ‖XᵀY‖_F} for {@code x} ({@code [p × n]}) and {@code y} ({@code [q × n]}), both transposed already. */
    private static double frobenius(dev.graft.linalg.MatrixProducts products, float[] x, int p, float[] y, int q,
                                    int n) {
        float[] xy = products.timesTransposed(x, p, n, y, q);
        double sum = 0;
        for (float v : xy) {
            sum += (double) v * v;
        }
        return Math.sqrt(sum);
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

    /**
     * The monotone one-to-one alignment of the shallower model's hidden layers (rows) to the deeper's (columns)
     * maximising the summed {@code cka}, the first rows pinned to each other.
     */
    static List<Integer> align(double[][] cka) {
        return align(cka, false);
    }

    /**
     * {@link #align(double[][])}, with the last rows pinned to each other too where {@code pinLast}.
     */
    static List<Integer> align(double[][] cka, boolean pinLast) {
        int m = cka.length;
        int n = m == 0 ? 0 : cka[0].length;
        List<Integer> out = new ArrayList<>();
        if (m == 0) {
            return out;
        }
        double[][] best = new double[m][n];
        for (double[] row : best) {
            java.util.Arrays.fill(row, Double.NEGATIVE_INFINITY);
        }
        best[0][0] = cka[0][0];
        for (int i = 1; i < m; i++) {
            for (int j = i; j < n; j++) {
                double previous = Double.NEGATIVE_INFINITY;
                for (int k = i - 1; k < j; k++) {
                    previous = Math.max(previous, best[i - 1][k]);
                }
                best[i][j] = previous + cka[i][j];
            }
        }
        int j = pinLast ? n - 1 : 0;
        for (int k = 1; k < n && !pinLast; k++) {
            j = best[m - 1][k] > best[m - 1][j] ? k : j;
        }
        int[] chosen = new int[m];
        chosen[m - 1] = m == 1 ? 0 : j;
        for (int i = m - 1; i > 0; i--) {
            int at = chosen[i];
            int from = i - 1;
            for (int k = i - 1; k < at; k++) {
                from = best[i - 1][k] > best[i - 1][from] ? k : from;
            }
            chosen[i - 1] = from;
        }
        for (int c : chosen) {
            out.add(c);
        }
        return out;
    }

    /**
     * Writes the shallower model in the deeper one's graph: each hidden layer of the deeper model takes the
     * shallower layer aligned to it, or an identity layer; the output layer takes the shallower one's.
     */
    static void deepen(Path shallow, List<AffineLayer> ls, Path deep, List<AffineLayer> ld, List<Integer> alignment,
                       Path out) {
        try (OnnxModel s = OnnxModel.open(shallow); OnnxModel d = OnnxModel.open(deep)) {
            ModelProto template = GraphEdit.of(d).clearValueInfo().build();
            RewritePlan.Builder plan = RewritePlan.of("cla-deepen", template).input(s).input(d);
            int hidden = ld.size() - 1;
            int width = ls.get(0).in();
            java.util.Set<String> written = new java.util.HashSet<>();
            for (int k = 0; k <= hidden; k++) {
                AffineLayer target = ld.get(k);
                int from = k == hidden ? ls.size() - 1 : alignment.indexOf(k);
                if (from >= 0) {
                    AffineLayer source = ls.get(from);
                    if (source.in() != width) {
                        throw new UnsupportedModelException(shallow, source.weight(), "reads " + source.in()
                                + " units but the layer before it writes " + width + "; the alignment skips a "
                                + "layer, which CLAFusion does not merge yet");
                    }
                    float[] w = source.weights(s);
                    int in = source.in();
                    int outW = source.out();
                    plan.compute(OutputTensor.of(target.weight(), ElementType.FLOAT, target.shape(in, outW),
                            () -> relayout(w, in, outW, source.outIn(), target.outIn())), 8L * w.length);
                    if (target.bias() != null) {
                        float[] bias = source.biases(s);
                        plan.compute(OutputTensor.of(target.bias(), ElementType.FLOAT, new long[] {outW},
                                () -> bias), 8L * bias.length);
                    } else if (source.bias() != null) {
                        throw new UnsupportedModelException(deep, target.weight(), "has no bias but " + shallow
                                + "'s aligned layer has one");
                    }
                    width = outW;
                } else {
                    int n = width;
                    plan.compute(OutputTensor.of(target.weight(), ElementType.FLOAT, target.shape(n, n), () -> {
                        float[] identity = new float[n * n];
                        for (int i = 0; i < n; i++) {
                            identity[i * n + i] = 1;
                        }
                        return identity;
                    }), 8L * n * n);
                    if (target.bias() != null) {
                        plan.compute(OutputTensor.of(target.bias(), ElementType.FLOAT, new long[] {n},
                                () -> new float[n]), 8L * n);
                    }
                }
                written.add(target.weight());
                if (target.bias() != null) {
                    written.add(target.bias());
                }
            }
            for (Weight w : d.initializers()) {
                if (!written.contains(w.name())) {
                    plan.copy(w);
                }
            }
            Rewriter.write(plan.build(), out, Execution.defaults());
        }
    }

    /** A weight {@code [in, out]} or {@code [out, in]} ({@code fromOutIn}) in the other layout if they differ. */
    private static float[] relayout(float[] w, int in, int out, boolean fromOutIn, boolean toOutIn) {
        if (fromOutIn == toOutIn) {
            return w;
        }
        float[] t = new float[w.length];
        for (int i = 0; i < in; i++) {
            for (int o = 0; o < out; o++) {
                if (fromOutIn) {
                    t[i * out + o] = w[o * in + i];
                } else {
                    t[o * in + i] = w[i * out + o];
                }
            }
        }
        return t;
    }
}
