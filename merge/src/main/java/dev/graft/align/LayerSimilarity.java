package dev.graft.align;

import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How the layers of two models of different depths correspond (CLAFusion's cross-layer alignment, Nguyen et al.,
 * ICASSP 2023): linear CKA between their representations, and the monotone one-to-one alignment of the shallower
 * model's layers to the deeper one's that maximises the summed similarity, by dynamic programming.
 */
final class LayerSimilarity {
    private LayerSimilarity() {
    }

    /**
     * {@code alignment} if it pairs each of the shallower model's {@code shallow} layers with one of the deeper
     * model's {@code deep}, increasing.
     *
     * @throws dev.graft.InvalidSettingException otherwise
     */
    static List<Integer> checked(List<Integer> alignment, int shallow, int deep) {
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
     * Linear CKA ({@code ‖XᵀY‖²_F / (‖XᵀX‖_F·‖YᵀY‖_F)} of centred representations; Kornblith et al., ICML 2019)
     * between each value of {@code shallowValues} in {@code shallow} and each of {@code deepValues} in {@code deep}
     * ({@code [shallow][deep]}), over every sample (and real token) of {@code data}, the units a value's last axis (a
     * 4-D value's whole feature maps), the products in ONNX Runtime.
     */
    static double[][] cka(Calibration data, Path shallow, List<String> shallowValues, Path deep,
                          List<String> deepValues) {
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
                        long[] shape = o.shape();
                        // [N, C, H, W]: a row per image (its maps flattened), so that every value has the same rows
                        widths[m][k] = (int) (shape.length == 4 ? shape[1] * shape[2] * shape[3]
                                : shape[shape.length - 1]);
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
}
