package dev.graft.bench;

import dev.graft.Graft;
import dev.graft.merge.Linear;
import dev.graft.onnx.WriteOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Graft's benchmarks, each reported as a ratio against a baseline measured in the same run (never a timed
 * unit test). Run with {@code bench/run.sh io|rss|merge|ties|all}:
 * <ul>
 *   <li>{@code io}: read+write of a ≥ 1 GiB external-data model ({@code graft convert}) against {@code cp} of
 *   the same files (goal: at least half of cp's throughput);</li>
 *   <li>{@code rss}: peak resident memory of rewriting a 2 GiB model in a child JVM with {@code -Xmx256m}
 *   (goal: under 600 MB), against the same JVM doing nothing;</li>
 *   <li>{@code merge}: linear merge of three BERT-base-sized models (110M parameters each, synthetic),
 *   parameters per second, against a plain rewrite of one of them;</li>
 *   <li>{@code ties}: TIES of a base and three such models, with and without diagnostics and sync, and the peak
 *   resident memory of one TIES in a child JVM;</li>
 *   <li>{@code lap}, {@code align}: see {@link AlignmentBenchmarks}.</li>
 *   <li>{@code regmean}, {@code eval}: see {@link DataAwareBenchmarks}.</li>
 *   <li>{@code decoder}, {@code decoder-fp16}, {@code decoder-int4}: see {@link DecoderBenchmarks} (not part of
 *   {@code all}: about 40 GB of disk).</li>
 * </ul>
 */
public final class Benchmarks {
    private static final int REPEATS = 3;

    private Benchmarks() {
    }

    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "all";
        Path work = Path.of(args.length > 1 ? args[1] : "bench/target/work");
        if (what.equals("convert-child")) {
            convertChild(args);
            return;
        }
        Files.createDirectories(work);
        System.out.printf("Graft benchmarks on %d cores, Java %s, work folder %s%n",
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), work.toAbsolutePath());
        if (what.equals("io") || what.equals("all")) {
            io(work);
        }
        if (what.equals("rss") || what.equals("all")) {
            rss(work);
        }
        if (what.equals("merge") || what.equals("all")) {
            merge(work);
        }
        if (what.equals("ties") || what.equals("all")) {
            ties(work);
        }
        if (what.equals("cli") || what.equals("all")) { // needs the CLI jar (mvn package) and python3 with numpy
            CliBenchmarks.run(work, Path.of("cli/target/graft-cli-dist.zip"));
        }
        if (what.equals("lap") || what.equals("all")) {
            AlignmentBenchmarks.lap();
        }
        if (what.equals("align") || what.equals("all")) {
            AlignmentBenchmarks.align(Path.of(System.getProperty("graft.models.dir", "api/target/models")),
                    Path.of("examples/recipes/text/sentences.txt"), work);
        }
        if (what.equals("lora-svd") || what.equals("lora") || what.equals("all")) {
            AdapterBenchmarks.svd();
        }
        if (what.equals("lora") || what.equals("all")) {
            AdapterBenchmarks.applyAndExtract(Path.of(System.getProperty("graft.models.dir", "api/target/models")),
                    work);
        }
        if (what.equals("recursive") || what.equals("all")) {
            AdapterBenchmarks.recursive(Path.of(System.getProperty("graft.models.dir", "api/target/models")), work);
        }
        if (what.equals("pleas-ls") || what.equals("pleas") || what.equals("all")) {
            PleasBenchmarks.leastSquares();
        }
        if (what.startsWith("memory") || what.equals("all")) {
            MemoryBenchmarks.run(Path.of(System.getProperty("graft.models.dir", "api/target/models")),
                    Path.of("examples/recipes/text/sentences.txt"), work, !what.equals("memory-recursive"),
                    !what.equals("memory-pleas"));
        }
        if (what.equals("regmean") || what.equals("eval") || what.equals("all")) {
            DataAwareBenchmarks.run(Path.of(System.getProperty("graft.models.dir", "api/target/models")), work,
                    !what.equals("eval"), !what.equals("regmean"));
        }
        if (what.startsWith("decoder")) { // not in "all": it needs about 40 GB of free disk
            DecoderBenchmarks.run(work, !what.equals("decoder-int4"), !what.equals("decoder-fp16"));
        }
        if (what.equals("pleas") || what.equals("all")) {
            PleasBenchmarks.merge(Path.of(System.getProperty("graft.models.dir", "api/target/models")),
                    Path.of("examples/recipes/text/sentences_2000.txt"), work);
        }
    }

    private static void io(Path work) throws Exception {
        Path in = work.resolve("io-in.onnx");
        SyntheticModel.write(in, SyntheticModel.squares(1200L << 20), 1, WriteOptions.Layout.EXTERNAL);
        long bytes = Files.size(in) + Files.size(data(in));
        Path cpOut = Files.createDirectories(work.resolve("cp"));
        double[] cp = new double[REPEATS];
        double[] cpSync = new double[REPEATS];
        double[] graft = new double[REPEATS];
        double[] graftSync = new double[REPEATS];
        for (int i = 0; i < REPEATS; i++) {
            // each measurement starts with no dirty pages left by the one before (the sync is not timed)
            exec("sync");
            cp[i] = time(() -> exec("cp", in.toString(), data(in).toString(), cpOut.toString()));
            exec("sync");
            graft[i] = time(() -> convert(in, work.resolve("io-out.onnx"), false));
            exec("sync");
            cpSync[i] = time(() -> {
                exec("cp", in.toString(), data(in).toString(), cpOut.toString());
                exec("sync", cpOut.resolve(in.getFileName()).toString(), cpOut.resolve(data(in).getFileName()).toString());
            });
            exec("sync");
            graftSync[i] = time(() -> convert(in, work.resolve("io-out.onnx"), true));
        }
        double mb = bytes / 1e6;
        System.out.printf(Locale.ROOT, "io: %.0f MB model (external data), median of %d runs, page cache warm%n", mb,
                REPEATS);
        System.out.printf(Locale.ROOT, "  cp                   %6.3f s  %7.0f MB/s%n", median(cp), mb / median(cp));
        System.out.printf(Locale.ROOT, "  graft convert        %6.3f s  %7.0f MB/s  = %.2f x cp%n", median(graft),
                mb / median(graft), median(cp) / median(graft));
        System.out.printf(Locale.ROOT, "  cp + sync            %6.3f s  %7.0f MB/s%n", median(cpSync), mb / median(cpSync));
        System.out.printf(Locale.ROOT, "  graft convert, fsync %6.3f s  %7.0f MB/s  = %.2f x (cp + sync)%n",
                median(graftSync), mb / median(graftSync), median(cpSync) / median(graftSync));
        delete(in, work.resolve("io-out.onnx"), cpOut.resolve(in.getFileName()));
        deleteFolder(cpOut);
    }

    private static void rss(Path work) throws Exception {
        Path in = work.resolve("rss-in.onnx");
        SyntheticModel.write(in, SyntheticModel.squares(2048L << 20), 2, WriteOptions.Layout.EXTERNAL);
        long idle = child("idle", in, work.resolve("rss-out.onnx"));
        long rewrite = child("convert", in, work.resolve("rss-out.onnx"));
        long bytes = Files.size(in) + Files.size(data(in));
        System.out.printf(Locale.ROOT, "rss: rewrite of a %.0f MB external-data model in a JVM with -Xmx256m%n",
                bytes / 1e6);
        System.out.printf(Locale.ROOT, "  idle JVM peak RSS   %5d MB%n", idle >> 20);
        System.out.printf(Locale.ROOT, "  rewrite peak RSS    %5d MB  (%.2f x idle; goal < 600 MB)%n", rewrite >> 20,
                (double) rewrite / idle);
        delete(in, work.resolve("rss-out.onnx"));
    }

    private static void merge(Path work) throws Exception {
        List<long[]> shapes = SyntheticModel.bertBase();
        long params = SyntheticModel.parameters(shapes);
        Path[] models = SyntheticModel.writeAll(work, "bert", 3, shapes, 10, WriteOptions.Layout.INLINE);
        Path out = work.resolve("bert-merged.onnx");
        double[] rewrite = new double[REPEATS];
        double[] merge = new double[REPEATS];
        int threads = Runtime.getRuntime().availableProcessors();
        for (int i = 0; i < REPEATS; i++) {
            rewrite[i] = timeFresh(out, () -> Graft.convert(models[0]).threads(threads).writeTo(out));
            merge[i] = timeFresh(out, () -> Graft.merge().model(models[0], 1).model(models[1], 1).model(models[2], 1)
                    .method(new Linear()).threads(threads).diagnostics(false).writeTo(out));
        }
        System.out.printf(Locale.ROOT, "merge: linear merge of 3 BERT-base-sized models (%.1fM parameters each), "
                + "%d threads, median of %d%n", params / 1e6, threads, REPEATS);
        System.out.printf(Locale.ROOT, "  rewrite of one model %6.3f s  %6.1f M params/s%n", median(rewrite),
                params / 1e6 / median(rewrite));
        System.out.printf(Locale.ROOT, "  merge of three       %6.3f s  %6.1f M params/s (output) = %.2f x rewrite time%n",
                median(merge), params / 1e6 / median(merge), median(merge) / median(rewrite));
        delete(models[0], models[1], models[2], out);
    }

    /**
     * TIES (density 0.5) of a base and three fine-tuned BERT-base-sized models, file to file, inputs in the page
     * cache; baseline: a plain rewrite of one model in the same run. The output of the run before is deleted
     * untimed (replacing a large file makes the file system free its blocks, which is not the merge's work).
     * Peak RSS is read from /proc in a child JVM.
     */
    private static void ties(Path work) throws Exception {
        List<long[]> shapes = SyntheticModel.bertBase();
        long params = SyntheticModel.parameters(shapes);
        Path[] models = SyntheticModel.writeAll(work, "ties", 4, shapes, 20, WriteOptions.Layout.EXTERNAL);
        Path out = work.resolve("ties-merged.onnx");
        int threads = Runtime.getRuntime().availableProcessors();
        int repeats = 5;
        double first = timeFresh(out, () -> tiesMerge(models, out, true, true));
        double[] rewrite = new double[repeats];
        double[] ties = new double[repeats];
        double[] tiesNoDiag = new double[repeats];
        double[] tiesNoSync = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            rewrite[i] = timeFresh(out, () -> Graft.convert(models[1]).threads(threads).writeTo(out));
            ties[i] = timeFresh(out, () -> tiesMerge(models, out, true, true));
            tiesNoDiag[i] = timeFresh(out, () -> tiesMerge(models, out, false, true));
            tiesNoSync[i] = timeFresh(out, () -> tiesMerge(models, out, false, false));
        }
        System.out.printf(Locale.ROOT, "ties: base + 3 BERT-base-sized models (%.1fM parameters each), density 0.5, "
                + "%d threads, median [min] of %d (input hashes cached after the first run)%n", params / 1e6, threads,
                repeats);
        System.out.printf(Locale.ROOT, "  rewrite of one model      %s%n", rate(rewrite, params, null));
        System.out.printf(Locale.ROOT, "  TIES, first run (hashes the 4 inputs for provenance) %6.3f s  %6.1f M params/s%n",
                first, params / 1e6 / first);
        System.out.printf(Locale.ROOT, "  TIES with diagnostics     %s%n", rate(ties, params, rewrite));
        System.out.printf(Locale.ROOT, "  TIES without diagnostics  %s%n", rate(tiesNoDiag, params, rewrite));
        System.out.printf(Locale.ROOT, "  the same, no sync to disk %s%n", rate(tiesNoSync, params, rewrite));
        long rss12 = child("ties", work.resolve("ties"), out);
        delete(models[0], models[1], models[2], models[3], out);
        List<long[]> half = SyntheticModel.bertBase(6);
        for (int i = 0; i < 4; i++) {
            SyntheticModel.write(models[i], half, 30 + i, WriteOptions.Layout.EXTERNAL);
        }
        long rss6 = child("ties", work.resolve("ties"), out);
        System.out.printf(Locale.ROOT, "  peak RSS of a child JVM (-Xmx1g) doing one TIES: %d MB with 12 layers (%.0fM "
                + "parameters per model), %d MB with 6 layers (%.0fM)%n", rss12 >> 20, params / 1e6, rss6 >> 20,
                SyntheticModel.parameters(half) / 1e6);
        delete(models[0], models[1], models[2], models[3], out);
    }

    private static void tiesMerge(Path[] models, Path out, boolean diagnostics, boolean sync) {
        Graft.merge().base(models[0]).model(models[1], 1).model(models[2], 1).model(models[3], 1)
                .method(new dev.graft.merge.Ties()).parameter("density", 0.5).diagnostics(diagnostics).sync(sync)
                .writeTo(out);
    }

    /** Deletes {@code out} (untimed), then times {@code w}. */
    private static double timeFresh(Path out, Work w) throws Exception {
        delete(out);
        return time(w);
    }

    /** "seconds, parameters per second" as median [min], and the ratio to {@code baseline}'s median time. */
    private static String rate(double[] seconds, long params, double[] baseline) {
        double[] s = seconds.clone();
        Arrays.sort(s);
        String r = String.format(Locale.ROOT, "%6.3f s [%6.3f]  %6.1f M params/s [%6.1f]", median(s), s[0],
                params / 1e6 / median(s), params / 1e6 / s[0]);
        return baseline == null ? r : r + String.format(Locale.ROOT, " = %.2f x rewrite time",
                median(s) / median(baseline));
    }

    /** Runs this class in a child JVM with -Xmx256m and returns its peak resident set size in bytes. */
    private static long child(String task, Path in, Path out) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return peakRss(List.of(java, task.equals("ties") ? "-Xmx1g" : "-Xmx256m", "-cp",
                System.getProperty("java.class.path"), Benchmarks.class.getName(), "convert-child", task, in.toString(),
                out.toString()));
    }

    /** Runs {@code command}, a child JVM that ends with {@link #printPeakRss()}; returns its peak RSS in bytes. */
    static long peakRss(List<String> command) throws Exception {
        return kilobytes(runChild(command), "VmHWM:") * 1024;
    }

    /** Runs a child process to its end; returns its output, or throws with it if the child failed. */
    static String runChild(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IllegalStateException("child failed: " + output);
        }
        return output;
    }

    /** The number on the line of {@code output} that starts with {@code key} (a /proc size in kB). */
    static long kilobytes(String output, String key) {
        for (String line : output.split("\n")) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no " + key + " in child output: " + output);
    }

    /** Prints this process's peak RSS line from /proc, for {@link #peakRss}. */
    static void printPeakRss() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                System.out.println(line);
            }
        }
    }

    private static void convertChild(String[] args) throws IOException {
        if (args[1].equals("convert")) {
            Graft.convert(Path.of(args[2])).writeTo(Path.of(args[3]));
        } else if (args[1].equals("ties")) {
            String prefix = args[2];
            Path[] models = new Path[4];
            for (int i = 0; i < 4; i++) {
                models[i] = Path.of(prefix + i + ".onnx");
            }
            tiesMerge(models, Path.of(args[3]), true, true);
        } else if (args[1].equals("decoder-ties")) {
            DecoderBenchmarks.childMerge(args);
        }
        printPeakRss();
    }

    private static void convert(Path in, Path out, boolean sync) {
        Graft.convert(in).sync(sync).writeTo(out);
    }

    /** Work to time. */
    interface Work {
        void run() throws Exception;
    }

    /** Seconds {@code w} takes. */
    static double time(Work w) throws Exception {
        long t = System.nanoTime();
        w.run();
        return (System.nanoTime() - t) / 1e9;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    static void exec(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed");
        }
    }

    private static Path data(Path model) {
        return model.resolveSibling(model.getFileName() + ".data");
    }

    static void delete(Path... models) throws IOException {
        for (Path m : models) {
            Files.deleteIfExists(m);
            Files.deleteIfExists(data(m));
        }
    }

    private static void deleteFolder(Path p) throws IOException {
        Files.deleteIfExists(p);
    }
}
