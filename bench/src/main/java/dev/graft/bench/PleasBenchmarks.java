package dev.graft.bench;

import dev.graft.data.Calibration;
import dev.graft.linalg.MatrixProducts;
import dev.graft.pleas.LeastSquares;
import dev.graft.pleas.Pleas;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * PLeaS benchmarks: the least-squares fit of one transformer FFN down-projection (8,192 rows × 1,536 inputs, 384
 * outputs), against numpy/OpenBLAS forming the normal equations and solving them by Cholesky in this run; and a
 * whole PLeaS merge of bge-small-en-v1.5 and e5-small-v2 on 2,000 calibration sentences (goal: under 10 minutes).
 */
final class PleasBenchmarks {
    private static final int ROWS = 8192;
    private static final int INPUTS = 1536;
    private static final int OUTPUTS = 384;
    private static final int BATCH = 1024;

    private PleasBenchmarks() {
    }

    static void leastSquares() throws Exception {
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[ROWS * INPUTS];
        float[] y = new float[ROWS * OUTPUTS];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) r.nextGaussian();
        }
        double[] prior = new double[(INPUTS + 1) * OUTPUTS];
        double[] accumulate = new double[3];
        double[] solve = new double[3];
        try (MatrixProducts products = new MatrixProducts(Runtime.getRuntime().availableProcessors())) {
            for (int run = 0; run < 4; run++) { // the first warms the JIT and ONNX Runtime
                long start = System.nanoTime();
                LeastSquares ls = new LeastSquares(INPUTS, OUTPUTS, true, prior);
                for (int from = 0; from < ROWS; from += BATCH) {
                    ls.add(Arrays.copyOfRange(x, from * INPUTS, (from + BATCH) * INPUTS),
                            Arrays.copyOfRange(y, from * OUTPUTS, (from + BATCH) * OUTPUTS), BATCH, products);
                }
                long mid = System.nanoTime();
                ls.solve(1e-3);
                long end = System.nanoTime();
                if (run > 0) {
                    accumulate[run - 1] = (mid - start) / 1e9;
                    solve[run - 1] = (end - mid) / 1e9;
                }
            }
        }
        Arrays.sort(accumulate);
        Arrays.sort(solve);
        double ours = accumulate[1] + solve[1];
        double numpy = numpyTime();
        System.out.printf(Locale.ROOT, "pleas least squares: %d rows × %d inputs → %d outputs, batches of %d, "
                + "median of 3%n", ROWS, INPUTS, OUTPUTS, BATCH);
        System.out.printf(Locale.ROOT, "  Graft: accumulate XᵀX, Xᵀ(Y − XW₀) %6.3f s + Cholesky solve %6.3f s = "
                + "%6.3f s%n", accumulate[1], solve[1], ours);
        System.out.printf(Locale.ROOT, "  numpy/OpenBLAS (XᵀX, XᵀY, cho_solve) %6.3f s   = %.2f x numpy's time%n", numpy,
                ours / numpy);
    }

    /** numpy's median time for the same problem in one piece, or NaN without /usr/bin/python3 and scipy. */
    private static double numpyTime() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            return Double.NaN;
        }
        String script = "import time, numpy as np\nfrom scipy.linalg import cho_factor, cho_solve\n"
                + "r = np.random.default_rng(1)\n"
                + "x = r.standard_normal((" + ROWS + ", " + (INPUTS + 1) + ")).astype(np.float32)\n"
                + "y = r.standard_normal((" + ROWS + ", " + OUTPUTS + ")).astype(np.float32)\nts = []\n"
                + "for _ in range(4):\n"
                + "    t = time.perf_counter()\n"
                + "    g = (x.T @ x).astype(np.float64); h = (x.T @ y).astype(np.float64)\n"
                + "    g[np.diag_indices_from(g)] += 1e-3 * np.trace(g) / len(g)\n"
                + "    cho_solve(cho_factor(g), h)\n"
                + "    ts.append(time.perf_counter() - t)\n"
                + "print(sorted(ts[1:])[1])\n";
        Process p = new ProcessBuilder(python.toString(), "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
            return Double.NaN;
        }
        return Double.parseDouble(out.strip());
    }

    /** A whole PLeaS merge of bge-small (A) and e5-small (B) at 1.0× and 1.5× FFN width. */
    static void merge(Path models, Path text, Path work) throws IOException {
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        Path e5 = models.resolve("e5-small-v2.onnx");
        if (!Files.exists(bge) || !Files.exists(e5)) {
            System.out.println("pleas: skipped, no models in " + models + " (run mvn verify first, or pass the folder)");
            return;
        }
        Calibration sentences = Calibration.text(text, models.resolve("bge-small-en-v1.5-tokenizer.json"), 2000, 128);
        System.out.printf(Locale.ROOT, "pleas: bge-small-en-v1.5 with e5-small-v2 on %d sentences, end to end "
                + "(matching, fitting every layer, solving, writing, checking; goal under 600 s)%n", sentences.samples());
        Path out = work.resolve("pleas.onnx");
        for (double width : new double[] {1.0, 1.5}) {
            long start = System.nanoTime();
            Pleas.Report r = Pleas.merge(bge, e5).calibration(sentences).width(width).writeTo(out);
            System.out.printf(Locale.ROOT, "  width %.1f  %6.1f s  (%d parameters, %.2f x bge's)%n", width,
                    (System.nanoTime() - start) / 1e9, r.parametersMerged(),
                    (double) r.parametersMerged() / r.parametersA());
        }
        Files.deleteIfExists(out);
    }
}
