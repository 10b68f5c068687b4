package dev.graft.moe;

import dev.graft.exec.TensorJob;
import dev.graft.graph.ExpertRouting;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.tensor.ElementType;
import java.util.Arrays;
import java.util.List;

/**
 * The experts of a routed layer as the graph stores them: each expert's update {@code Wₜ − R} of the layer's weight
 * (and bias) from a reference {@code R} — the base (WEMoE's task vectors) or the static merge (Mediator-style
 * residuals, whose routed layer then starts from the static merge's weight) — stacked {@code [T·in, out]} in
 * {@code [in, out]} layout. With a density below 1 each expert's weight update keeps only its largest entries by
 * magnitude (TIES' trim: exactly {@code round(density·in·out)} of them, ties in index order) and is stored sparse:
 * a {@code uint8} mask with one entry per element and the kept values in row-major order, densified in the graph
 * ({@link ExpertRouting#addDensified}). Bias updates stay dense.
 */
final class ExpertDeltas {
    private final MergePlan pairs;
    private final OnnxModel reference;
    private final double density;
    private final int experts;

    /**
     * @param pairs     the base's weights paired with each expert's (base first)
     * @param reference the model whose weights the updates start from (the base, or the static merge), or null for
     *                  the base
     * @param density   the share of each expert's weight update kept, (0, 1]
     */
    ExpertDeltas(MergePlan pairs, OnnxModel reference, double density, int experts) {
        this.pairs = pairs;
        this.reference = reference;
        this.density = density;
        this.experts = experts;
    }

    /** Whether the weight updates are stored sparse. */
    boolean sparse() {
        return density < 1;
    }

    /**
     * Adds the jobs of {@code layer}'s stacked weight updates to {@code jobs} and returns the value the routed
     * branch reads them from (the initializer, or the densified value).
     */
    String weights(RoutedLayers.Layer layer, ExpertRouting routing, List<TensorJob> jobs) {
        int in = layer.affine().in();
        int out = layer.affine().out();
        boolean outIn = layer.affine().outIn();
        List<Weight> sources = pairs.step(layer.weight()).sources();
        Weight from = reference == null ? sources.get(0) : reference.weight(layer.weight()).orElseThrow();
        int n = in * out;
        String name = ExpertRouting.deltas(layer.weight());
        OutputTensor.Values stacked = () -> {
            float[] all = new float[experts * n];
            float[] r = from.toFloats();
            for (int t = 0; t < experts; t++) {
                float[] wt = sources.get(t + 1).toFloats();
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) {
                        int k = outIn ? o * in + i : i * out + o;
                        all[t * n + i * out + o] = wt[k] - r[k];
                    }
                }
            }
            return all;
        };
        long bytes = 4L * n * (experts + 2);
        if (!sparse()) {
            jobs.add(new TensorJob(OutputTensor.of(name, ElementType.FLOAT, new long[] {(long) experts * in, out},
                    stacked), bytes));
            return name;
        }
        int kept = kept(n);
        Trimmed trimmed = new Trimmed(stacked, n, kept);
        jobs.add(new TensorJob(OutputTensor.of(name + "_mask", ElementType.UINT8, new long[] {(long) experts * n},
                trimmed::mask), bytes + 4L * experts * n));
        jobs.add(new TensorJob(OutputTensor.of(name + "_values", ElementType.FLOAT, new long[] {(long) experts * kept},
                trimmed::values), bytes + 4L * experts * n));
        return routing.addDensified(name + "_mask", name + "_values", new long[] {(long) experts * in, out},
                ExpertRouting.SCOPE + "sparse/" + layer.weight());
    }

    /** The job of {@code layer}'s stacked bias updates ({@code [T, out]}), or null if the layer has no bias. */
    TensorJob biases(RoutedLayers.Layer layer) {
        if (layer.bias() == null) {
            return null;
        }
        int out = layer.affine().out();
        List<Weight> sources = pairs.step(layer.bias()).sources();
        Weight from = reference == null ? sources.get(0) : reference.weight(layer.bias()).orElseThrow();
        return new TensorJob(OutputTensor.of(ExpertRouting.biasDeltas(layer.bias()), ElementType.FLOAT,
                new long[] {experts, out}, () -> {
                    float[] stacked = new float[experts * out];
                    float[] b0 = from.toFloats();
                    for (int t = 0; t < experts; t++) {
                        float[] bt = sources.get(t + 1).toFloats();
                        for (int o = 0; o < out; o++) {
                            stacked[t * out + o] = bt[o] - b0[o];
                        }
                    }
                    return stacked;
                }), 4L * out * (experts + 2));
    }

    /** Entries kept of each expert's update of {@code n}. */
    int kept(int n) {
        return (int) Math.max(1, Math.min(n, Math.round(density * n)));
    }

    /**
     * The kept entries of each expert's update, worked out once for the two tensors that store them (the mask and
     * the values), whichever is written first, and dropped after the second.
     */
    private static final class Trimmed {
        private final OutputTensor.Values stacked;
        private final int n;
        private final int kept;
        private float[] mask;
        private float[] values;
        private int taken;

        Trimmed(OutputTensor.Values stacked, int n, int kept) {
            this.stacked = stacked;
            this.n = n;
            this.kept = kept;
        }

        synchronized float[] mask() throws Exception {
            compute();
            float[] m = mask;
            release();
            return m;
        }

        synchronized float[] values() throws Exception {
            compute();
            float[] v = values;
            release();
            return v;
        }

        private void compute() throws Exception {
            if (mask != null) {
                return;
            }
            float[] all = stacked.get();
            int experts = all.length / n;
            mask = new float[all.length];
            values = new float[experts * kept];
            int at = 0;
            float[] magnitudes = new float[n];
            for (int t = 0; t < experts; t++) {
                for (int i = 0; i < n; i++) {
                    magnitudes[i] = Math.abs(all[t * n + i]);
                }
                float[] sorted = magnitudes.clone();
                Arrays.sort(sorted);
                float cut = sorted[n - kept];
                int above = 0;
                for (float v : magnitudes) {
                    above += v > cut ? 1 : 0;
                }
                int atCut = kept - above; // entries equal to the cut that are kept, first ones by index
                for (int i = 0; i < n; i++) {
                    boolean keep = magnitudes[i] > cut || magnitudes[i] == cut && atCut-- > 0;
                    if (keep) {
                        mask[t * n + i] = 1;
                        values[at++] = all[t * n + i];
                    }
                }
            }
        }

        private void release() {
            if (++taken == 2) {
                mask = null;
                values = null;
            }
        }
    }
}
