package dev.graft.plan;

import java.util.List;
import java.util.Map;

/**
 * What a merge did: the files written, the method and its parameters, the base and the inputs with their
 * hashes, how many tensors were merged, which were not (copied from the reference model, or ignored) and
 * why, the time taken, diagnostics per tensor and per layer (empty when switched off), what aligning the
 * inputs did (empty without alignment), and the weights paired by module and role because their names differ
 * between the models ({@link MergePlan#renamed}), and what quantizing the merged weights again cost (for inputs
 * with {@code MatMulNBits} weights).
 */
public record MergeReport(List<String> outputs, String method, Map<String, String> parameters, Input base,
                          List<Input> inputs, int merged, List<Unmerged> unmerged, long bytesWritten, double seconds,
                          List<LayerSummary> layers, List<TensorDiagnostics> tensors,
                          List<Map<String, Object>> alignments, List<MergePlan.Renamed> renamed,
                          List<QuantizationError> quantization) {
    /** An input model (its path as given) with its settings as given. */
    public record Input(String file, Map<String, String> parameters, String sha256) {
    }

    /** A tensor not merged: copied from the reference model, or present only in another model and not needed. */
    public record Unmerged(String tensor, String reason) {
    }

    /**
     * A quantized weight merged as float and quantized again: {@code relativeRms} is
     * {@code ‖merged − dequantize(quantize(merged))‖ / ‖merged‖}.
     */
    public record QuantizationError(String weight, double relativeRms) {
        /** The error of quantizing {@code merged} to what {@code dequantized} holds. */
        public static QuantizationError of(String weight, float[] merged, float[] dequantized) {
            double[] sums = new double[2];
            add(sums, merged, dequantized, merged.length);
            return of(weight, sums);
        }

        /** Adds {@code ‖merged − dequantized‖²} and {@code ‖merged‖²} over {@code [0, length)} to {@code sums}. */
        static void add(double[] sums, float[] merged, float[] dequantized, int length) {
            for (int i = 0; i < length; i++) {
                double d = merged[i] - dequantized[i];
                sums[0] += d * d;
                sums[1] += (double) merged[i] * merged[i];
            }
        }

        /** The error from sums {@link #add} gathered. */
        static QuantizationError of(String weight, double[] sums) {
            return new QuantizationError(weight, sums[1] == 0 ? 0 : Math.sqrt(sums[0] / sums[1]));
        }
    }
}
