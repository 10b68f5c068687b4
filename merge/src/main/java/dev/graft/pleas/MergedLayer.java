package dev.graft.pleas;

import dev.graft.graph.AffineLayer;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.verify.ModelRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.IntStream;

/**
 * One layer of the merged model: A's layer and B's, how their input units ({@code channels}: the input axis of
 * the weight) and output units map to the merged ones, and whether it is fitted by least squares or set to its
 * {@link #prior prior}. The least-squares problem reads rows of merged input features (patches for a
 * convolution, with a constant 1 for the bias) and rows of merged targets; the solution {@code (features + 1) ×
 * outputs} becomes the merged weight and bias. An <em>entry</em> layer of the parts kept per model ({@link Split})
 * has A's outputs and then B's as its outputs and becomes two layers, A's and B's.
 */
final class MergedLayer {
    private final AffineLayer a;
    private final AffineLayer b;
    private final UnitMap channels;
    private final UnitMap features;
    private final UnitMap out;
    private final boolean fitted;
    private final boolean entry;

    MergedLayer(AffineLayer a, AffineLayer b, UnitMap channels, UnitMap out, boolean fitted, boolean entry) {
        this.a = a;
        this.b = b;
        this.channels = channels;
        this.features = a.patches() == null ? channels
                : UnitMap.product(List.of(channels, UnitMap.shared(a.patches().size())));
        this.out = out;
        this.fitted = fitted;
        this.entry = entry;
    }

    AffineLayer a() {
        return a;
    }

    AffineLayer b() {
        return b;
    }

    boolean fitted() {
        return fitted;
    }

    /** Whether this is an entry layer of the parts kept per model. */
    boolean entry() {
        return entry;
    }

    int inputs() {
        return features.width();
    }

    /** Merged input channels (the input width of a dense layer). */
    int channels() {
        return channels.width();
    }

    int outputs() {
        return out.width();
    }

    /** Rows of merged input features: {@code rows × inputs()}. */
    float[] inputs(ModelRunner.Output oa, ModelRunner.Output ob) {
        if (a.patches() == null) {
            int rows = oa.values().length / a.in();
            return channels.map(oa.values(), ob.values(), rows, a.in(), b.in(), 1);
        }
        long[] s = oa.shape();
        int n = (int) s[0];
        int h = (int) s[2];
        int w = (int) s[3];
        float[] merged = channels.map(oa.values(), ob.values(), n, a.in(), b.in(), h * w);
        return a.patches().rows(merged, n, channels.width(), h, w);
    }

    /**
     * Rows of input features from the merged model's own value at the layer's input ({@code rows × inputs()}),
     * already in merged units: as they are for a dense layer, its patches for a convolution.
     */
    float[] inputs(ModelRunner.Output merged) {
        if (a.patches() == null) {
            return merged.values();
        }
        long[] s = merged.shape();
        return a.patches().rows(merged.values(), (int) s[0], (int) s[1], (int) s[2], (int) s[3]);
    }

    /** Rows of merged targets: {@code rows × outputs()}, a convolution's channels moved last. */
    float[] targets(ModelRunner.Output oa, ModelRunner.Output ob) {
        if (a.patches() == null) {
            int rows = oa.values().length / a.out();
            return out.map(oa.values(), ob.values(), rows, a.out(), b.out(), 1);
        }
        long[] s = oa.shape();
        int n = (int) s[0];
        int plane = (int) (s[2] * s[3]);
        int c = out.width();
        float[] merged = out.map(oa.values(), ob.values(), n, a.out(), b.out(), plane);
        float[] rows = new float[merged.length];
        for (int i = 0; i < n; i++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < plane; p++) {
                    rows[(i * plane + p) * c + ch] = merged[(i * c + ch) * plane + p];
                }
            }
        }
        return rows;
    }

    /**
     * The merged-space average of the two layers ({@code (inputs + 1) × outputs}, bias last): a merged output is
     * half of each model's, fed by the inputs that carry that model's units; a kept output is its model's own.
     * It is the permutation-aligned average when everything is merged, and computes both models exactly when
     * nothing is.
     */
    double[] prior(OnnxModel ma, OnnxModel mb) {
        float[] wa = a.weights(ma);
        float[] wb = b.weights(mb);
        float[] ba = a.biases(ma);
        float[] bb = b.biases(mb);
        int ins = inputs();
        int outs = outputs();
        double[] p = new double[(ins + 1) * outs];
        for (int v = 0; v < outs; v++) {
            int i = out.a()[v];
            int j = out.b()[v];
            double share = i >= 0 && j >= 0 ? 0.5 : 1;
            for (int u = 0; u < ins; u++) {
                int k = features.a()[u];
                int m = features.b()[u];
                double w = 0;
                if (i >= 0 && k >= 0) {
                    w += share * at(wa, a, k, i);
                }
                if (j >= 0 && m >= 0) {
                    w += share * at(wb, b, m, j);
                }
                p[u * outs + v] = w;
            }
            p[ins * outs + v] = (i >= 0 ? share * ba[i] : 0) + (j >= 0 ? share * bb[j] : 0);
        }
        return p;
    }

    /** The weight from input feature {@code k} to output {@code i} in the layer's layout. */
    private static float at(float[] w, AffineLayer l, int k, int i) {
        return l.outIn() ? w[i * l.features() + k] : w[k * l.out() + i];
    }

    /**
     * The merged layer's tensors, whose values {@code values} gives by name when they are written: weight and
     * bias under A's names; an entry layer's B part under B's names with {@link Split#SUFFIX}.
     */
    List<OutputTensor> tensors(OnnxModel ma, OnnxModel mb, Function<String, float[]> values) {
        List<OutputTensor> list = new ArrayList<>();
        for (Part p : parts()) {
            OnnxModel m = p.layer() == a ? ma : mb;
            String weight = p.layer().weight() + p.suffix();
            list.add(OutputTensor.of(weight, m.weight(p.layer().weight()).orElseThrow().type(),
                    p.layer().shape(channels.width(), p.columns().length), () -> values.apply(weight)));
            if (p.layer().hasBias()) {
                String bias = p.layer().biasName() + p.suffix();
                list.add(OutputTensor.of(bias, m.weight(p.layer().biasName()).orElseThrow().type(),
                        new long[] {p.columns().length}, () -> values.apply(bias)));
            }
        }
        return list;
    }

    /** The values of {@link #tensors} from the solution {@code w} ({@code (inputs + 1) × outputs}), by name. */
    Map<String, float[]> values(double[] w) {
        int ins = inputs();
        int outs = outputs();
        Map<String, float[]> out = new HashMap<>();
        for (Part p : parts()) {
            AffineLayer l = p.layer();
            int width = p.columns().length;
            float[] weight = new float[ins * width];
            float[] bias = new float[width];
            for (int c = 0; c < width; c++) {
                int v = p.columns()[c];
                for (int u = 0; u < ins; u++) {
                    weight[l.outIn() ? c * ins + u : u * width + c] = (float) w[u * outs + v];
                }
                bias[c] = (float) w[ins * outs + v];
            }
            out.put(l.weight() + p.suffix(), weight);
            if (l.hasBias()) {
                out.put(l.biasName() + p.suffix(), bias);
            }
        }
        return out;
    }

    /** A written layer: A's or B's, its names' suffix, and which merged outputs it takes. */
    private record Part(AffineLayer layer, String suffix, int[] columns) {
    }

    private List<Part> parts() {
        int[] all = IntStream.range(0, outputs()).toArray();
        if (!entry) {
            return List.of(new Part(a, "", all));
        }
        return List.of(new Part(a, "", Arrays.stream(all).filter(v -> out.a()[v] >= 0).toArray()),
                new Part(b, Split.SUFFIX, Arrays.stream(all).filter(v -> out.b()[v] >= 0).toArray()));
    }

    /** A width the merged graph must show: value {@code value}'s axis {@code axis} (-1: the last) is {@code size}. */
    record Width(String value, int axis, int size) {
    }

    /** Where this layer's merged widths show in the graph, for checking the written model's shapes. */
    List<Width> widths() {
        int axis = a.patches() == null ? -1 : 1;
        List<Width> list = new ArrayList<>();
        list.add(new Width(a.input(), axis, channels.width()));
        if (entry) {
            list.add(new Width(a.output(), axis, (int) Arrays.stream(out.a()).filter(i -> i >= 0).count()));
            list.add(new Width(b.output() + Split.SUFFIX, axis, (int) Arrays.stream(out.b()).filter(i -> i >= 0).count()));
        } else {
            list.add(new Width(a.output(), axis, out.width()));
        }
        return list;
    }
}
