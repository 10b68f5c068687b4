package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.index.GraphIndex;
import dev.graft.index.WeightUse;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * The Gram matrix {@code G = XᵀX} of each dense layer's input over calibration data: {@code X} holds the input
 * rows (one per token or sample) that the layer's {@code MatMul} or {@code Gemm} sees when the model runs on the
 * data in ONNX Runtime. {@code ‖(W − W′)·Xᵀ‖²_F = tr((W − W′)·G·(W − W′)ᵀ)} for {@code [out, in]} weights, so
 * {@code G} is all an activation-weighted fit needs. Layers reading the same value (query, key and value) share
 * one matrix. Products run in ONNX Runtime (float32), sums in float64. Memory: {@code 8·in²} bytes per distinct
 * input (bge-small: 270 MB in all; a 7B model's 32 FFN inputs of width 11008 would need 31 GB: not for those).
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
     * names: the inputs of a model changed in memory (RegMean++ fits each layer on the merged model's own inputs).
     */
    public static InputGrams of(Path model, Map<String, ModelRunner.Input> weights, Map<String, Integer> widths,
                                Calibration data) {
        Map<String, String> inputOf = new LinkedHashMap<>(); // weight → the value its node multiplies it with
        try (OnnxModel m = OnnxModel.open(model);
             MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
            GraphIndex index = GraphIndex.of(m);
            for (String weight : widths.keySet()) {
                index.get(weight).flatMap(w -> w.uses().stream().map(WeightUse::denseInput)
                        .filter(java.util.Objects::nonNull).findFirst()).ifPresent(value -> inputOf.put(weight, value));
                if (!inputOf.containsKey(weight)) {
                    throw new GraftException(model, weight, "is not the second input of a MatMul or Gemm node, so "
                            + "its layer input cannot be observed for an activation-weighted fit");
                }
            }
            Set<String> values = new LinkedHashSet<>(inputOf.values());
            Map<String, double[]> byValue = new LinkedHashMap<>();
            long[] rows = new long[1];
            try (Activations runs = Activations.of(model, values, weights)) {
                runs.run(data, batch -> {
                    long batchRows = -1;
                    for (String v : values) {
                        ModelRunner.Output o = batch.output(0, v);
                        int width = (int) o.shape()[o.shape().length - 1];
                        int n = o.values().length / width;
                        batchRows = n;
                        float[] xt = MatrixProducts.transpose(o.values(), n, width);
                        float[] g = products.timesTransposed(xt, width, n, xt, width);
                        double[] sum = byValue.computeIfAbsent(v, k -> new double[width * width]);
                        for (int k = 0; k < g.length; k++) {
                            sum[k] += g[k];
                        }
                    }
                    rows[0] += batchRows;
                }, ProgressListener.NONE, "grams");
            }
            Map<String, double[]> byWeight = new LinkedHashMap<>();
            inputOf.forEach((w, v) -> byWeight.put(w, byValue.get(v)));
            for (Map.Entry<String, double[]> e : byWeight.entrySet()) {
                int width = widths.get(e.getKey());
                if (e.getValue().length != width * width) {
                    throw new GraftException(model, e.getKey(), "has " + width + " inputs but its layer's observed "
                            + "input is " + (int) Math.sqrt(e.getValue().length) + " wide");
                }
            }
            return new InputGrams(byWeight, widths, rows[0]);
        }
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

    /** Rows (tokens or samples) summed per matrix. */
    public long rows() {
        return rows;
    }
}
