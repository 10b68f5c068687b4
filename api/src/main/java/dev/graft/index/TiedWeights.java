package dev.graft.index;

import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WeightReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Tied embeddings as exporters write them: a language model whose output head shares the token embedding
 * ({@code tie_word_embeddings}) is exported with two initializers, the embedding table {@code [vocab, hidden]} and
 * a copy for the head, transposed ({@code MatMul} B {@code [hidden, vocab]}, TorchScript's constant folding) or not
 * ({@code Gemm} with {@code transB=1}). A merge must treat the two as one tensor, or methods that draw random masks
 * untie them.
 *
 * <p>A copy is recognised by its values: equal to the table (transposed or not) on its first two rows exactly, and
 * on all entries by a random bilinear fingerprint {@code Σ a_v·b_h·T[v,h]} (one sequential pass over each tensor;
 * two tensors that differ pass it with negligible probability, or differ by rounding only).
 */
public final class TiedWeights {
    /** {@code copy} holds the values of {@code table}, transposed if {@code transposed}. */
    public record Tie(String copy, String table, boolean transposed) {
    }

    private static final double TOLERANCE = 1e-6;

    private TiedWeights() {
    }

    /** Every copy of an embedding table among {@code model}'s main-graph weights. */
    public static List<Tie> of(OnnxModel model, GraphIndex index) {
        List<Tie> out = new ArrayList<>();
        for (IndexedWeight table : index.weights()) {
            Weight t = table.weight();
            if (table.role() != WeightRole.EMBEDDING || !t.scope().isEmpty() || t.shape().length != 2) {
                continue;
            }
            for (IndexedWeight head : index.weights()) {
                Weight h = head.weight();
                boolean transposed = head.role().storedInOut();
                boolean candidate = head.role() == WeightRole.GEMM_WEIGHT_OUT_IN || transposed;
                long[] expected = transposed ? new long[] {t.shape()[1], t.shape()[0]} : t.shape();
                if (candidate && h.scope().isEmpty() && h != t && h.type() == t.type()
                        && Arrays.equals(h.shape(), expected) && holds(t, h, transposed)) {
                    out.add(new Tie(h.name(), t.name(), transposed));
                }
            }
        }
        return out;
    }

    /** Whether {@code copy} holds {@code table}'s values (transposed if {@code transposed}). */
    public static boolean holds(Weight table, Weight copy, boolean transposed) {
        int rows = Math.toIntExact(table.shape()[0]);
        int cols = Math.toIntExact(table.shape()[1]);
        Random random = new Random(7);
        double[] a = random.doubles(rows).map(x -> x - 0.5).toArray();
        double[] b = random.doubles(cols).map(x -> x - 0.5).toArray();
        int checked = Math.min(2, transposed ? cols : rows);
        float[][] exact = new float[checked][];
        double sum = 0;
        double scale = 0;
        float[] row = new float[cols];
        try (WeightReader r = table.reader()) {
            for (int v = 0; v < rows; v++) {
                r.read(row, 0, cols);
                for (int h = 0; h < cols; h++) {
                    double term = row[h] * a[v] * b[h];
                    sum += term;
                    scale += Math.abs(term);
                }
                if (!transposed && v < checked) {
                    exact[v] = row.clone();
                } else if (transposed) {
                    for (int h = 0; h < checked; h++) {
                        if (exact[h] == null) {
                            exact[h] = new float[rows];
                        }
                        exact[h][v] = row[h];
                    }
                }
            }
        }
        int copyRows = transposed ? cols : rows;
        int copyCols = transposed ? rows : cols;
        float[] line = new float[copyCols];
        double copySum = 0;
        try (WeightReader r = copy.reader()) {
            for (int i = 0; i < copyRows; i++) {
                r.read(line, 0, copyCols);
                if (i < checked && !Arrays.equals(line, exact[i])) {
                    return false;
                }
                for (int j = 0; j < copyCols; j++) {
                    copySum += transposed ? line[j] * a[j] * b[i] : line[j] * a[i] * b[j];
                }
            }
        }
        return Math.abs(sum - copySum) <= TOLERANCE * scale + Double.MIN_NORMAL;
    }
}
