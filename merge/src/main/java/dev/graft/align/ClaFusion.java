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

    /**
     * What was fused: for each hidden layer of the shallower model, the hidden layer of the deeper one it was aligned
     * to (0-based), the CKA matrix ({@code [shallow][deep]}), and the OTFusion of the deepened model with the deeper.
     */
    public record Report(Path target, String deeper, List<Integer> alignment, double[][] cka,
                         OtFusion.Report fusion) {
    }

    private ClaFusion(Path a, Path b, Calibration data) {
        this.a = a;
        this.b = b;
        this.data = data;
    }

    /** The fusion of MLPs {@code a} and {@code b} (depths may differ), layers aligned on {@code data}. */
    public static ClaFusion of(Path a, Path b, Calibration data) {
        return new ClaFusion(a, b, data);
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
     * Writes the fused model to {@code out}.
     *
     * @throws UnsupportedModelException naming the file and weight if a model is not a plain ReLU MLP
     */
    public Report writeTo(Path out) {
        List<AffineLayer> la = mlp(a);
        List<AffineLayer> lb = mlp(b);
        boolean aDeeper = la.size() > lb.size();
        Path shallow = aDeeper ? b : a;
        Path deep = aDeeper ? a : b;
        List<AffineLayer> ls = aDeeper ? lb : la;
        List<AffineLayer> ld = aDeeper ? la : lb;
        double[][] cka = cka(shallow, ls, deep, ld);
        List<Integer> alignment = align(cka);
        try (TemporaryFolder scratch = TemporaryFolder.in(out.toAbsolutePath().getParent(), ".graft-cla")) {
            Path deepened = scratch.resolve("deepened.onnx");
            deepen(shallow, ls, deep, ld, alignment, deepened);
            OtFusion fusion = OtFusion.of(deepened, deep).solver(solver).weight(weight);
            OtFusion.Report r = fusion.writeTo(out);
            return new Report(out, deep.getFileName().toString(), alignment, cka, r);
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

    /** Linear CKA between every hidden representation (a layer's input after the first) of the two models. */
    private double[][] cka(Path shallow, List<AffineLayer> ls, Path deep, List<AffineLayer> ld) {
        List<double[][]> xs = representations(shallow, ls);
        List<double[][]> xd = representations(deep, ld);
        double[][] out = new double[xs.size()][xd.size()];
        for (int i = 0; i < xs.size(); i++) {
            for (int j = 0; j < xd.size(); j++) {
                out[i][j] = linearCka(xs.get(i), xd.get(j));
            }
        }
        return out;
    }

    /** Each hidden representation of {@code model} on the data, centred: {@code [samples][units]}. */
    private List<double[][]> representations(Path model, List<AffineLayer> layers) {
        List<String> values = layers.subList(1, layers.size()).stream().map(AffineLayer::input).toList();
        List<List<float[]>> rows = new ArrayList<>();
        values.forEach(v -> rows.add(new ArrayList<>()));
        try (Activations runs = Activations.of(model, new LinkedHashSet<>(values))) {
            runs.run(data, batch -> {
                for (int k = 0; k < values.size(); k++) {
                    var o = batch.output(0, values.get(k));
                    int width = (int) o.shape()[o.shape().length - 1];
                    float[] v = o.values();
                    for (int r = 0; r < v.length / width; r++) {
                        rows.get(k).add(java.util.Arrays.copyOfRange(v, r * width, (r + 1) * width));
                    }
                }
            }, ProgressListener.NONE, "cla");
        }
        List<double[][]> out = new ArrayList<>();
        for (List<float[]> r : rows) {
            int n = r.size();
            int w = r.get(0).length;
            double[][] x = new double[n][w];
            double[] mean = new double[w];
            for (float[] row : r) {
                for (int c = 0; c < w; c++) {
                    mean[c] += row[c] / (double) n;
                }
            }
            for (int s = 0; s < n; s++) {
                for (int c = 0; c < w; c++) {
                    x[s][c] = r.get(s)[c] - mean[c];
                }
            }
            out.add(x);
        }
        return out;
    }

    /** {@code ‖XᵀY‖²_F / (‖XᵀX‖_F·‖YᵀY‖_F)} of centred {@code x} and {@code y} (same samples). */
    static double linearCka(double[][] x, double[][] y) {
        double xy = frobeniusOfProduct(x, y);
        double xx = frobeniusOfProduct(x, x);
        double yy = frobeniusOfProduct(y, y);
        return xx == 0 || yy == 0 ? 0 : xy * xy / (xx * yy);
    }

    /** {@code ‖XᵀY‖_F}. */
    private static double frobeniusOfProduct(double[][] x, double[][] y) {
        int p = x[0].length;
        int q = y[0].length;
        double sum = 0;
        for (int i = 0; i < p; i++) {
            for (int j = 0; j < q; j++) {
                double s = 0;
                for (int n = 0; n < x.length; n++) {
                    s += x[n][i] * y[n][j];
                }
                sum += s * s;
            }
        }
        return Math.sqrt(sum);
    }

    /**
     * The monotone one-to-one alignment of the shallower model's hidden layers (rows) to the deeper's (columns)
     * maximising the summed {@code cka}, the first rows pinned to each other.
     */
    static List<Integer> align(double[][] cka) {
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
        int j = 0;
        for (int k = 1; k < n; k++) {
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
