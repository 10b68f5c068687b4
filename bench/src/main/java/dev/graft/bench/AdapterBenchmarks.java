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
 * against scikit-learn's {@code randomized_svd} with the same oversampling and power iterations, in this run;
 * applying a rank-16 adapter on every dense layer of bge-small, then extracting it back from the result, against a
 * plain rewrite of the model ({@code Graft.convert}) in this run; and the recursive conversion of bge-small with
 * the result's inference latency against the original's.
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

    /**
     * Apply and extract (all 72 dense layers, rank 16) on bge-small and on a synthetic BERT-base-sized model,
     * against a rewrite of the same model.
     */
    static void applyAndExtract(Path models, Path work) throws Exception {
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        if (Files.exists(bge)) {
            applyAndExtract(bge, "bge-small-en-v1.5", work);
        } else {
            System.out.println("lora: bge skipped, no models in " + models + " (run mvn verify first)");
        }
        Path bert = work.resolve("bert-base-dense.onnx");
        SyntheticModel.writeDense(bert, 12, 5);
        applyAndExtract(bert, "synthetic BERT-base (dense layers in a MatMul chain)", work);
        Files.deleteIfExists(bert);
    }

    private static void applyAndExtract(Path bge, String label, Path work) throws Exception {
        Path adapter = work.resolve("lora-adapter");
        java.util.Map<String, dev.graft.adapters.LoraModule> modules = new java.util.LinkedHashMap<>();
        SplittableRandom r = new SplittableRandom(3);
        try (dev.graft.onnx.OnnxModel m = dev.graft.onnx.OnnxModel.open(bge)) {
            new dev.graft.adapters.ModuleMap(m, java.util.Map.of()).targets().forEach((name, t) -> {
                float[] a = new float[16 * (int) t.in()];
                float[] b = new float[(int) t.out() * 16];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) r.nextGaussian();
                }
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) (0.01 * r.nextGaussian());
                }
                modules.put(name, new dev.graft.adapters.LoraModule(name, 16, (int) t.in(), (int) t.out(), a, b, 1));
            });
        }
        new dev.graft.adapters.PeftAdapter(dev.graft.adapters.PeftConfig.of(16, 16, java.util.List.of("dense")),
                modules, java.util.Map.of()).write(java.nio.file.Files.createDirectories(adapter));
        Path out = work.resolve("lora-applied.onnx");
        long params;
        try (dev.graft.onnx.OnnxModel m = dev.graft.onnx.OnnxModel.open(bge)) {
            params = m.initializers().stream().mapToLong(dev.graft.onnx.Weight::elementCount).sum();
        }
        double[] rewrite = new double[3];
        double[] apply = new double[3];
        double[] extract = new double[3];
        for (int i = 0; i < 3; i++) {
            Files.deleteIfExists(out);
            long start = System.nanoTime();
            dev.graft.Graft.convert(bge).writeTo(out);
            rewrite[i] = (System.nanoTime() - start) / 1e9;
            Files.delete(out);
            start = System.nanoTime();
            dev.graft.adapters.LoraApply.to(bge).adapter(adapter).writeTo(out);
            apply[i] = (System.nanoTime() - start) / 1e9;
            start = System.nanoTime();
            dev.graft.adapters.LoraExtract.from(bge, out).rank(16).writeTo(work.resolve("lora-extracted"));
            extract[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(rewrite);
        Arrays.sort(apply);
        Arrays.sort(extract);
        System.out.printf(Locale.ROOT, "lora: %s (%.1fM parameters), a rank-16 adapter on all %d dense layers, "
                + "median of 3%n", label, params / 1e6, modules.size());
        System.out.printf(Locale.ROOT, "  rewrite (graft convert) %6.3f s  %6.1f M params/s%n", rewrite[1],
                params / 1e6 / rewrite[1]);
        System.out.printf(Locale.ROOT, "  apply                   %6.3f s  %6.1f M params/s = %.2f x the rewrite's time%n",
                apply[1], params / 1e6 / apply[1], apply[1] / rewrite[1]);
        System.out.printf(Locale.ROOT, "  extract (rank 16)       %6.3f s%n", extract[1]);
        Files.deleteIfExists(out);
    }

    /**
     * The recursive conversion of bge-small (12 layers into 6 blocks, rank 64), and ONNX Runtime's latency of the
     * result against the original on one batch of 8 sequences of 128 tokens.
     */
    static void recursive(Path models, Path work) throws Exception {
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        if (!Files.exists(bge)) {
            System.out.println("recursive: skipped, no models in " + models + " (run mvn verify first)");
            return;
        }
        Path out = work.resolve("recursive.onnx");
        double[] convert = new double[3];
        for (int i = 0; i < convert.length; i++) {
            long start = System.nanoTime();
            dev.graft.adapters.RecursiveModel.of(bge).blocks(6).rank(64).writeTo(out);
            convert[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(convert);
        Path text = Path.of("examples/recipes/text/heldout.txt");
        double[] aware = new double[3]; // from scratch: tokenising, gathering the Grams, fitting, writing
        for (int i = 0; i < aware.length && Files.exists(text); i++) {
            long start = System.nanoTime();
            dev.graft.adapters.RecursiveModel.of(bge).blocks(6).rank(64).calibration(dev.graft.data.Calibration.text(
                    text, models.resolve("bge-small-en-v1.5-tokenizer.json"), 512, 128)).writeTo(out);
            aware[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(aware);
        double original = latency(bge);
        double recursive = latency(out);
        System.out.printf(Locale.ROOT, "recursive: bge-small-en-v1.5, 12 layers into 6 blocks, LoRA rank 64%n");
        System.out.printf(Locale.ROOT, "  conversion, weight-only %6.2f s (median of 3)%n", convert[1]);
        System.out.printf(Locale.ROOT, "  conversion, data-aware on 512 held-out sentences (8 refinements) %6.2f s "
                + "(median of 3) = %.1f x weight-only%n", aware[1], aware[1] / convert[1]);
        System.out.printf(Locale.ROOT, "  ONNX Runtime latency, 8 × 128 tokens, median of 10: original %6.1f ms, "
                + "recursive %6.1f ms = %.2f x%n", original * 1e3, recursive * 1e3, recursive / original);
        Files.deleteIfExists(out);
    }

    private static double latency(Path model) throws Exception {
        ai.onnxruntime.OrtEnvironment env = dev.graft.verify.OrtEnvironments.get();
        long[] shape = {8, 128};
        long[] ids = new long[8 * 128];
        long[] ones = new long[ids.length];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 1000 + r.nextInt(20000);
            ones[i] = 1;
        }
        try (ai.onnxruntime.OrtSession.SessionOptions o = new ai.onnxruntime.OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(Runtime.getRuntime().availableProcessors());
            try (ai.onnxruntime.OrtSession s = env.createSession(model.toString(), o);
                 ai.onnxruntime.OnnxTensor a = ai.onnxruntime.OnnxTensor.createTensor(env,
                         java.nio.LongBuffer.wrap(ids), shape);
                 ai.onnxruntime.OnnxTensor b = ai.onnxruntime.OnnxTensor.createTensor(env,
                         java.nio.LongBuffer.wrap(ones), shape);
                 ai.onnxruntime.OnnxTensor c = ai.onnxruntime.OnnxTensor.createTensor(env,
                         java.nio.LongBuffer.wrap(new long[ids.length]), shape)) {
                java.util.Map<String, ai.onnxruntime.OnnxTensor> in = java.util.Map.of("input_ids", a,
                        "attention_mask", b, "token_type_ids", c);
                s.run(in).close();
                double[] t = new double[10];
                for (int i = 0; i < t.length; i++) {
                    long start = System.nanoTime();
                    s.run(in).close();
                    t[i] = (System.nanoTime() - start) / 1e9;
                }
                Arrays.sort(t);
                return t[t.length / 2];
            }
        }
    }
}
