package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.Patches;
import dev.graft.index.GraphIndex;
import dev.graft.index.WeightUse;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Gram matrix {@code G = XᵀX} of each affine layer's input over calibration data: {@code X} holds the input
 * rows (one per token or sample) that the layer's {@code MatMul} or {@code Gemm} sees when the model runs on the
 * data in ONNX Runtime, or for a convolution ({@link AffineLayer} with {@link Patches}) the patches it reads, one
 * row of {@code in·kh·kw} per output position. {@code ‖(W − W′)·Xᵀ‖²_F = tr((W − W′)·G·(W − W′)ᵀ)} for
 * {@code [out, in]} weights ({@code [out, in·kh·kw]} for a convolution), so {@code G} is all an activation-weighted
 * fit needs. Layers reading the same value the same way (query, key and value) share one matrix. Products run in
 * ONNX Runtime (float32), sums in float64. Memory: {@code 8·in²} bytes per distinct input (bge-small: 270 MB in all;
 * a 7B model's 32 FFN inputs of width 11008 would need 31 GB: not for those).
 */
public final class InputGrams {
    private final Map<String, double[]> byWeight;
    private final Map<String, Integer> widths;
    private final long rows;

    private InputGrams(Map<String, double[]> byWeight, Map<String, Integer> widths, long rows) {
        this.byWeight = byWeight;
        this.widths = Map.copyOf(widths);
        this.rows = rows;
    }

    /** What a layer multiplies: a value, read as rows of its last axis or, for a convolution, as patches. */
    private record Observed(String value, Patches patches) {
        /** The rows of one batch's {@code value}: {@code [rows, features]}. */
        float[] rows(ModelRunner.Output o) {
            long[] s = o.shape();
            if (patches == null) {
                return o.values();
            }
            return patches.rows(o.values(), (int) s[0], (int) s[1], (int) s[2], (int) s[3]);
        }

        int features(ModelRunner.Output o) {
            long[] s = o.shape();
            return patches == null ? (int) s[s.length - 1] : (int) s[1] * patches.size();
        }
    }

    /**
     * Runs {@code model} on {@code data} and sums the Grams of the inputs of the dense weights in {@code widths}
     * (weight name → its input width).
     *
     * @throws GraftException naming the model and weight if a weight is not the second input of a MatMul or Gemm,
     *                        or its layer's observed input has another width
     */
    public static InputGrams of(Path model, Map<String, Integer> widths, Calibration data) {
        return of(model, Map.of(), widths, data);
    }

    /**
     * As {@link #of(Path, Map, Calibration)}, with {@code weights} in place of the model's initializers of the same
     * names: the inputs of a model changed in memory.
     */
    public static InputGrams of(Path model, Map<String, ModelRunner.Input> weights, Map<String, Integer> widths,
                                Calibration data) {
        Map<String, Observed> observed = new LinkedHashMap<>();
        try (OnnxModel m = OnnxModel.open(model)) {
            GraphIndex index = GraphIndex.of(m);
            for (String weight : widths.keySet()) {
                index.get(weight).flatMap(w -> w.uses().stream().map(WeightUse::denseInput)
                        .filter(java.util.Objects::nonNull).findFirst())
                        .ifPresent(value -> observed.put(weight, new Observed(value, null)));
                if (!observed.containsKey(weight)) {
                    throw new GraftException(model, weight, "is not the second input of a MatMul or Gemm node, so "
                            + "its layer input cannot be observed for an activation-weighted fit");
                }
            }
        }
        return sum(model, weights, observed, widths, data);
    }

    /**
     * Runs {@code model} (with {@code weights} in place of its initializers of the same names) on {@code data} and
     * sums the Grams of the inputs of {@code layers}: dense layers' input rows, convolutions' patches. Each matrix is
     * {@link AffineLayer#features()} wide.
     *
     * @throws GraftException naming the model and weight if a layer's observed input has another width
     */
    public static InputGrams of(Path model, Map<String, ModelRunner.Input> weights, List<AffineLayer> layers,
                                Calibration data) {
        Map<String, Observed> observed = new LinkedHashMap<>();
        Map<String, Integer> widths = new LinkedHashMap<>();
        for (AffineLayer l : layers) {
            observed.put(l.weight(), new Observed(l.input(), l.patches()));
            widths.put(l.weight(), l.features());
        }
        return sum(model, weights, observed, widths, data);
    }

    private static InputGrams sum(Path model, Map<String, ModelRunner.Input> weights, Map<String, Observed> observed,
                                  Map<String, Integer> widths, Calibration data) {
        Set<Observed> distinct = new LinkedHashSet<>(observed.values());
        Set<String> values = new LinkedHashSet<>();
        distinct.forEach(o -> values.add(o.value()));
        Map<Observed, double[]> byInput = new LinkedHashMap<>();
        long[] rows = new long[1];
        try (MatrixProducts products = new MatrixProducts(Threads.modelRuns());
             Activations runs = Activations.of(model, values, weights)) {
            runs.run(data, batch -> {
                long batchRows = -1;
                for (Observed in : distinct) {
                    ModelRunner.Output o = batch.output(0, in.value());
                    int width = in.features(o);
                    float[] x = in.rows(o);
                    int n = x.length / width;
                    batchRows = Math.max(batchRows, n);
                    float[] xt = MatrixProducts.transpose(x, n, width);
                    float[] g = products.timesTransposed(xt, width, n, xt, width);
                    double[] sum = byInput.computeIfAbsent(in, k -> new double[width * width]);
                    if (sum.length != g.length) {
                        throw new GraftException(model, in.value(), "changed width between calibration batches");
                    }
                    for (int k = 0; k < g.length; k++) {
                        sum[k] += g[k];
                    }
                }
                rows[0] += batchRows;
            }, ProgressListener.NONE, "grams");
        }
        Map<String, double[]> byWeight = new LinkedHashMap<>();
        observed.forEach((w, in) -> byWeight.put(w, byInput.get(in)));
        for (Map.Entry<String, double[]> e : byWeight.entrySet()) {
            int width = widths.get(e.getKey());
            if (e.getValue().length != (long) width * width) {
                throw new GraftException(model, e.getKey(), "has " + width + " input features but its layer's "
                        + "observed input has " + (int) Math.sqrt(e.getValue().length));
            }
        }
        return new InputGrams(byWeight, widths, rows[0]);
    }

    /** {@code XᵀX} of {@code weight}'s input ({@code in × in}, row-major; shared, do not modify). */
    public double[] of(String weight) {
        double[] g = byWeight.get(weight);
        if (g == null) {
            throw new IllegalArgumentException("no Gram matrix for weight '" + weight + "'");
        }
        return g;
    }

    /** The input width of {@code weight}. */
    public int width(String weight) {
        return widths.get(weight);
    }

    /** Rows (tokens, samples or patches) summed into the matrix with the most. */
    public long rows() {
        return rows;
    }
}
