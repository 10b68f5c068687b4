package dev.graft.pleas;

import dev.graft.GraftException;
import dev.graft.align.ActivationMatching;
import dev.graft.align.Alignment;
import dev.graft.align.LapSolver;
import dev.graft.align.PermutationSpec;
import dev.graft.data.Calibration;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import dev.graft.verify.ModelRunner;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * PLeaS (Nasery, Hayase, Koh and Kusupati, <i>PLeaS — Merging Models with Permutations and Least Squares</i>,
 * CVPR 2025) for models made of linear layers joined by element-wise ops (MLPs): merges two models trained from
 * different starts into one whose hidden widths the user chooses between one model's (1.0×) and both (2.0×).
 * <ol>
 *   <li>Each hidden group's units are matched by the correlation of their activations on calibration data
 *   ({@link ActivationMatching}); of width {@code n}, the {@code round((w−1)·n)} least correlated pairs are kept
 *   apart (both units), the others merged, so the width becomes about {@code w·n} ({@link UnitMap}).</li>
 *   <li>Each layer's weights and bias are fitted by ridge least squares ({@link LeastSquares}): inputs are the
 *   original models' activations at the layer's input mapped to the merged units (averaged on merged units, each
 *   model's own on kept ones), targets their outputs mapped the same way (the average of both models' outputs for
 *   a layer whose outputs are fixed, such as the logits). Layers are independent. The ridge pulls toward the
 *   merged-space average of the two models' weights, which is exact at 2.0× and is the permutation-aligned
 *   average at 1.0×.</li>
 * </ol>
 * The merged graph is A's with the layers' weights replaced (new shapes); graphs whose groups touch anything but
 * linear weights and biases are refused, naming the weight.
 */
public final class Pleas {
    /** One group's outcome. */
    public record GroupReport(String group, int width, int mergedWidth, int mergedPairs, double meanSimilarity) {
    }

    /** One layer's fit. */
    public record LayerReport(String weight, int inputs, int outputs, double relativeResidual) {
    }

    /** What a PLeaS merge did. */
    public record Report(String modelA, String modelB, double width, double ridge, int samples,
                         List<GroupReport> groups, List<LayerReport> layers, List<String> files) {
    }

    private final Path a;
    private final Path b;
    private Calibration data;
    private double width = 1.0;
    private double ridge = 1e-3;

    private Pleas(Path a, Path b) {
        this.a = a;
        this.b = b;
    }

    /** Merges {@code a} and {@code b}; the result has {@code a}'s graph. */
    public static Pleas merge(Path a, Path b) {
        return new Pleas(a, b);
    }

    /** The calibration data (required). */
    public Pleas calibration(Calibration c) {
        this.data = c;
        return this;
    }

    /** Hidden widths as a multiple of one model's, from 1.0 (all merged) to 2.0 (nothing merged); default 1.0. */
    public Pleas width(double w) {
        if (!(w >= 1 && w <= 2)) {
            throw new IllegalArgumentException("width must be between 1.0 and 2.0, got " + w);
        }
        this.width = w;
        return this;
    }

    /** Ridge strength toward the averaged weights, relative to the inputs' mean square (default 1e-3). */
    public Pleas ridge(double lambda) {
        if (!(lambda > 0)) {
            throw new IllegalArgumentException("ridge must be positive, got " + lambda);
        }
        this.ridge = lambda;
        return this;
    }

    /** Runs the merge and writes the merged model to {@code target}, atomically. */
    public Report writeTo(Path target) {
        if (data == null) {
            throw new IllegalArgumentException("PLeaS needs calibration data: call calibration(...)");
        }
        PermutationSpec spec = Alignment.spec(b, false, ProbeOptions.defaults());
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b)) {
            List<LinearLayer> layers = LinearLayer.find(ma);
            Map<String, Integer> inGroup = new HashMap<>();
            Map<String, Integer> outGroup = new HashMap<>();
            groupsOf(spec, layers, inGroup, outGroup);
            Map<Integer, double[]> correlations = ActivationMatching.correlations(a, b, spec, data);
            Map<Integer, UnitMap> maps = new LinkedHashMap<>();
            List<GroupReport> groups = new ArrayList<>();
            for (int g = 0; g < spec.groups().size(); g++) {
                PermutationSpec.Group group = spec.groups().get(g);
                double[] c = correlations.get(ActivationMatching.ownKey(g));
                if (c == null) {
                    throw new GraftException(b, null, "group '" + group.name() + "' is not seen in any activation");
                }
                int n = group.size();
                int[] match = LapSolver.maximize(c, n, n);
                double[] similarity = new double[n];
                double mean = 0;
                for (int i = 0; i < n; i++) {
                    similarity[i] = c[i * n + match[i]];
                    mean += similarity[i] / n;
                }
                UnitMap map = UnitMap.of(match, similarity, (int) Math.round((width - 1) * n));
                maps.put(g, map);
                groups.add(new GroupReport(group.name(), n, map.width(), map.merged(), mean));
            }
            Map<String, double[]> fitted = new LinkedHashMap<>();
            List<LayerReport> reports = fit(ma, mb, layers, inGroup, outGroup, maps, fitted);
            List<String> files = write(ma, mb, layers, inGroup, outGroup, maps, fitted, target);
            return new Report(a.toString(), b.toString(), width, ridge, data.samples(), groups, reports, files);
        }
    }

    /** Each layer's input and output group (-1: fixed); refuses groups that touch anything else. */
    private static void groupsOf(PermutationSpec spec, List<LinearLayer> layers, Map<String, Integer> inGroup,
                                 Map<String, Integer> outGroup) {
        Set<String> handled = new LinkedHashSet<>();
        for (LinearLayer l : layers) {
            inGroup.put(l.weight(), -1);
            outGroup.put(l.weight(), -1);
            handled.add(l.weight());
            if (l.bias() != null) {
                handled.add(l.bias());
            }
        }
        for (PermutationSpec.PermutedAxis axis : spec.axes()) {
            if (!handled.contains(axis.weight())) {
                throw new IllegalArgumentException("PLeaS handles linear layers joined by element-wise ops; weight '"
                        + axis.weight() + "' (axis " + axis.axis() + ") is in a hidden group but is not a linear "
                        + "layer's weight or bias");
            }
        }
        for (PermutationSpec.PermutedAxis axis : spec.axes()) {
            if (axis.factors().size() != 1) {
                throw new IllegalArgumentException("PLeaS cannot change the width of weight '" + axis.weight()
                        + "': its axis " + axis.axis() + " is a product of groups");
            }
            int g = axis.factors().get(0).group();
            for (LinearLayer l : layers) {
                if (l.weight().equals(axis.weight())) {
                    boolean inAxis = axis.axis() == (l.outIn() ? 1 : 0);
                    (inAxis ? inGroup : outGroup).put(l.weight(), g);
                }
            }
        }
    }

    /** Fits every layer on the calibration data. */
    private List<LayerReport> fit(OnnxModel ma, OnnxModel mb, List<LinearLayer> layers, Map<String, Integer> inGroup,
                                  Map<String, Integer> outGroup, Map<Integer, UnitMap> maps,
                                  Map<String, double[]> fitted) {
        Set<String> values = new LinkedHashSet<>();
        layers.forEach(l -> {
            values.add(l.input());
            values.add(l.output());
        });
        Map<String, LeastSquares> systems = new LinkedHashMap<>();
        int threads = Math.min(2, Runtime.getRuntime().availableProcessors());
        try (TemporaryFolder folder = TemporaryFolder.create("graft-pleas");
             ModelRunner ra = new ModelRunner(ExposedValues.write(ma, values, folder.resolve("a.onnx")), threads);
             ModelRunner rb = new ModelRunner(ExposedValues.write(mb, values, folder.resolve("b.onnx")), threads);
             MatrixProducts products = new MatrixProducts(threads)) {
            for (Map<String, ModelRunner.Input> batch : data.batches()) {
                Map<String, ModelRunner.Output> oa = ra.run(batch, values);
                Map<String, ModelRunner.Output> ob = rb.run(batch, values);
                for (LinearLayer l : layers) {
                    UnitMap in = map(maps, inGroup.get(l.weight()), l.in());
                    UnitMap out = map(maps, outGroup.get(l.weight()), l.out());
                    int rows = oa.get(l.input()).values().length / l.in();
                    float[] x = in.map(oa.get(l.input()).values(), ob.get(l.input()).values(), rows, l.in());
                    float[] y = out.map(oa.get(l.output()).values(), ob.get(l.output()).values(), rows, l.out());
                    systems.computeIfAbsent(l.weight(), k -> new LeastSquares(in.width(), out.width()))
                            .add(x, y, rows, products);
                }
            }
        }
        List<LayerReport> reports = new ArrayList<>();
        for (LinearLayer l : layers) {
            UnitMap in = map(maps, inGroup.get(l.weight()), l.in());
            UnitMap out = map(maps, outGroup.get(l.weight()), l.out());
            LeastSquares ls = systems.get(l.weight());
            double[] w = ls.solve(prior(ma, mb, l, in, out), ridge);
            fitted.put(l.weight(), w);
            reports.add(new LayerReport(l.weight(), in.width(), out.width(), ls.relativeResidual(w)));
        }
        return reports;
    }

    private static UnitMap map(Map<Integer, UnitMap> maps, int group, int size) {
        return group < 0 ? UnitMap.shared(size) : maps.get(group);
    }

    /**
     * The merged-space average of the two layers ({@code (in'+1) × out'}, bias last): a merged output is half
     * of each model's, fed by the inputs that carry that model's units; a kept output is its model's own.
     */
    private static double[] prior(OnnxModel ma, OnnxModel mb, LinearLayer l, UnitMap in, UnitMap out) {
        float[] wa = ma.weight(l.weight()).orElseThrow().toFloats();
        float[] wb = mb.weight(l.weight()).orElseThrow().toFloats();
        float[] ba = l.bias() == null ? new float[l.out()] : ma.weight(l.bias()).orElseThrow().toFloats();
        float[] bb = l.bias() == null ? new float[l.out()] : mb.weight(l.bias()).orElseThrow().toFloats();
        int rows = in.width() + 1;
        double[] p = new double[rows * out.width()];
        for (int v = 0; v < out.width(); v++) {
            int i = out.a()[v];
            int j = out.b()[v];
            double share = i >= 0 && j >= 0 ? 0.5 : 1;
            for (int u = 0; u < in.width(); u++) {
                int k = in.a()[u];
                int m = in.b()[u];
                double w = 0;
                if (i >= 0 && k >= 0) {
                    w += share * at(wa, l, k, i);
                }
                if (j >= 0 && m >= 0) {
                    w += share * at(wb, l, m, j);
                }
                p[u * out.width() + v] = w;
            }
            p[in.width() * out.width() + v] = (i >= 0 ? share * ba[i] : 0) + (j >= 0 ? share * bb[j] : 0);
        }
        return p;
    }

    /** The weight from input {@code k} to output {@code i} in the layer's layout. */
    private static float at(float[] w, LinearLayer l, int k, int i) {
        return l.outIn() ? w[i * l.in() + k] : w[k * l.out() + i];
    }

    /** Writes A's graph with every layer's weight and bias replaced by the fitted, resized ones. */
    private List<String> write(OnnxModel ma, OnnxModel mb, List<LinearLayer> layers, Map<String, Integer> inGroup,
                               Map<String, Integer> outGroup, Map<Integer, UnitMap> maps,
                               Map<String, double[]> fitted, Path target) {
        Map<String, OutputTensor> replaced = new HashMap<>();
        for (LinearLayer l : layers) {
            int in = map(maps, inGroup.get(l.weight()), l.in()).width();
            int out = map(maps, outGroup.get(l.weight()), l.out()).width();
            double[] w = fitted.get(l.weight());
            float[] weight = new float[in * out];
            for (int u = 0; u < in; u++) {
                for (int v = 0; v < out; v++) {
                    weight[l.outIn() ? v * in + u : u * out + v] = (float) w[u * out + v];
                }
            }
            Weight original = ma.weight(l.weight()).orElseThrow();
            replaced.put(l.weight(), OutputTensor.of(l.weight(), original.type(),
                    l.outIn() ? new long[] {out, in} : new long[] {in, out}, () -> weight));
            if (l.bias() != null) {
                float[] bias = new float[out];
                for (int v = 0; v < out; v++) {
                    bias[v] = (float) w[in * out + v];
                }
                replaced.put(l.bias(), OutputTensor.of(l.bias(), ma.weight(l.bias()).orElseThrow().type(),
                        new long[] {out}, () -> bias));
            }
        }
        List<OutputTensor> tensors = new ArrayList<>();
        for (Weight w : ma.initializers()) {
            tensors.add(replaced.getOrDefault(w.name(), OutputTensor.copyOf(w)));
        }
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("method", "pleas");
        parameters.put("width", Double.toString(width));
        parameters.put("ridge", Double.toString(ridge));
        parameters.put("calibration", data.source());
        CompletableFuture<Provenance.Input> ha = Provenance.Input.hashInBackground(ma);
        CompletableFuture<Provenance.Input> hb = Provenance.Input.hashInBackground(mb);
        var template = ma.proto().toBuilder();
        template.getGraphBuilder().clearValueInfo(); // intermediate shapes changed with the widths
        WriteOptions options = WriteOptions.defaults().withProvenance(() ->
                new Provenance("pleas", parameters, List.of(ha.join(), hb.join())));
        return OnnxWriter.write(template.build(), tensors, target, options).names();
    }
}
