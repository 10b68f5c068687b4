package dev.graft.bench;

import dev.graft.align.Alignment;
import dev.graft.align.LapSolver;
import dev.graft.data.Calibration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Alignment benchmarks: the assignment solver against scipy's {@code linear_sum_assignment} on random uniform
 * costs (scipy timed in the same run when Debian's python3-scipy is installed; otherwise the numbers the issue
 * quotes for this machine), and weight and activation matching of e5-small-v2 to bge-small-en-v1.5 end to end.
 */
final class AlignmentBenchmarks {
    /** scipy's times quoted for this machine (n = 1024, 2048, 4096), for when scipy is not installed. */
    private static final double[] QUOTED = {0.036, 0.25, 1.5};
    private static final int[] SIZES = {1024, 2048, 4096, 8192};

    private AlignmentBenchmarks() {
    }

    static void lap() throws Exception {
        double[] scipy = scipyTimes();
        System.out.println("lap: dense assignment of random uniform n×n costs (float64), minimising; median of 3 "
                + "(1 run at 8192); scipy " + (scipy != null ? "timed in this run" : "as quoted for this machine"));
        for (int k = 0; k < SIZES.length; k++) {
            int n = SIZES[k];
            double[] c = new double[n * n];
            SplittableRandom r = new SplittableRandom(n);
            for (int i = 0; i < c.length; i++) {
                c[i] = r.nextDouble();
            }
            if (k == 0) {
                LapSolver.minimize(c, n, n); // warm the JIT once
            }
            int runs = n >= 8192 ? 1 : 3;
            double[] t = new double[runs];
            for (int i = 0; i < runs; i++) {
                long start = System.nanoTime();
                LapSolver.minimize(c, n, n);
                t[i] = (System.nanoTime() - start) / 1e9;
            }
            Arrays.sort(t);
            double ours = t[runs / 2];
            double theirs = scipy != null ? scipy[k] : k < QUOTED.length ? QUOTED[k] : Double.NaN;
            System.out.printf(Locale.ROOT, "  n=%5d  Graft %7.3f s   scipy %7.3f s   = %.2f x scipy's time%n", n, ours,
                    theirs, ours / theirs);
        }
    }

    /** scipy's times for {@link #SIZES}, or null when /usr/bin/python3 with scipy is not there. */
    private static double[] scipyTimes() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            return null;
        }
        String script = "import time, numpy as np\nfrom scipy.optimize import linear_sum_assignment\n"
                + "for n in " + Arrays.toString(SIZES) + ":\n"
                + "    c = np.random.default_rng(n).random((n, n))\n    ts = []\n"
                + "    for _ in range(1 if n >= 8192 else 3):\n"
                + "        t = time.perf_counter(); linear_sum_assignment(c); ts.append(time.perf_counter() - t)\n"
                + "    print(sorted(ts)[len(ts) // 2])\n";
        Process p = new ProcessBuilder(python.toString(), "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            return null;
        }
        String[] lines = out.strip().split("\n");
        if (lines.length != SIZES.length) {
            return null;
        }
        return Arrays.stream(lines).mapToDouble(Double::parseDouble).toArray();
    }

    /** Weight matching and activation matching (512 sentences) of e5-small-v2 to bge-small-en-v1.5. */
    static void align(Path models, Path text, Path work) throws IOException {
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        Path e5 = models.resolve("e5-small-v2.onnx");
        if (!Files.exists(bge) || !Files.exists(e5)) {
            System.out.println("align: skipped, no models in " + models + " (run mvn verify first, or pass the folder)");
            return;
        }
        Path out = work.resolve("e5-aligned.onnx");
        long start = System.nanoTime();
        Alignment.Result w = Alignment.weightMatching().alignTo(e5, bge, out);
        double weight = (System.nanoTime() - start) / 1e9;
        start = System.nanoTime();
        Calibration sentences = Calibration.text(text, models.resolve("e5-small-v2-tokenizer.json"), 512, 128);
        Alignment.Result a = Alignment.activationMatching(sentences).alignTo(e5, bge, out);
        double activation = (System.nanoTime() - start) / 1e9;
        System.out.println("align: e5-small-v2 to bge-small-en-v1.5, end to end (spec, matching, writing)");
        System.out.printf(Locale.ROOT, "  weight matching       %6.1f s (%d passes; goal under 60 s)%n", weight,
                w.report().passes());
        System.out.printf(Locale.ROOT, "  activation matching   %6.1f s on %d sentences (goal under 120 s)%n", activation,
                sentences.samples());
        Files.deleteIfExists(out);
    }
}
