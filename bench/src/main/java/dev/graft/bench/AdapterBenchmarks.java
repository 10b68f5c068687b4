package dev.graft.bench;

import dev.graft.adapters.TruncatedSvd;
import dev.graft.linalg.MatrixProducts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * LoRA benchmarks: randomized truncated SVD of rank 64 of a 4096×4096 matrix (goal under 2 s on 2 cores),
 * against scikit-learn's {@code randomized_svd} with the same oversampling and power iterations, in this run.
 */
final class AdapterBenchmarks {
    private static final int N = 4096;
    private static final int RANK = 64;

    private AdapterBenchmarks() {
    }

    static void svd() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        float[] m = new float[N * N];
        for (int i = 0; i < m.length; i++) {
            m[i] = (float) r.nextGaussian();
        }
        double[] t = new double[3];
        try (MatrixProducts products = new MatrixProducts(Runtime.getRuntime().availableProcessors())) {
            TruncatedSvd.of(m, N, N, RANK, products); // warm-up
            for (int i = 0; i < t.length; i++) {
                long start = System.nanoTime();
                TruncatedSvd.of(m, N, N, RANK, products);
                t[i] = (System.nanoTime() - start) / 1e9;
            }
        }
        Arrays.sort(t);
        double sklearn = sklearnTime();
        System.out.printf(Locale.ROOT, "lora-svd: randomized truncated SVD, rank %d of %d×%d (10 extra columns, 2 power "
                + "iterations), median of 3%n", RANK, N, N);
        System.out.printf(Locale.ROOT, "  Graft %6.3f s (goal under 2 s)   scikit-learn randomized_svd %6.3f s   = %.2f x "
                + "its time%n", t[1], sklearn, t[1] / sklearn);
    }

    /** scikit-learn's median time on a Gaussian float32 matrix of the same size, or NaN if it is not installed. */
    private static double sklearnTime() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            return Double.NaN;
        }
        String script = "import time, numpy as np\nfrom sklearn.utils.extmath import randomized_svd\n"
                + "m = np.random.default_rng(7).standard_normal((" + N + ", " + N + ")).astype(np.float32)\n"
                + "randomized_svd(m, " + RANK + ", n_oversamples=10, n_iter=2, random_state=0)\nts = []\n"
                + "for _ in range(3):\n"
                + "    t = time.perf_counter(); randomized_svd(m, " + RANK + ", n_oversamples=10, n_iter=2, "
                + "random_state=0); ts.append(time.perf_counter() - t)\n"
                + "print(sorted(ts)[1])\n";
        Process p = new ProcessBuilder(python.toString(), "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(5, TimeUnit.MINUTES) || p.exitValue() != 0) {
            return Double.NaN;
        }
        return Double.parseDouble(out.strip());
    }
}
