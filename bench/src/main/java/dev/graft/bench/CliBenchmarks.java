package dev.graft.bench;

import com.google.common.hash.Hashing;
import com.google.common.io.MoreFiles;
import dev.graft.Graft;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code graft merge} timed as a user runs it: one {@code graft merge --method ties} process of the distribution's
 * launcher ({@code bin/graft} of {@code graft-cli-dist.zip}, unpacked; TIES, density 0.2, of a base and three
 * BERT-base-sized models with external data, inputs in the page cache): the first run (no hash remembered, so it hashes
 * 1.7 GB for provenance; no class-data archive yet, so it writes one) and repeated runs; the same with
 * {@code java -jar graft-cli-…-all.jar}; against, in the same run, numpy's in-memory TIES of the same tensors
 * ({@code bench/ties_numpy.py}, loading not timed) and the warmed in-process merge (the harness figure). A first run
 * after installing (no archive, no hash) and a first run on new inputs (the archive kept, the hashes forgotten) are
 * timed apart: the archive is written once per installation and Java, the hashes once per input; and a first run on
 * new inputs in a Hugging Face hub cache, which names them by their SHA-256. Each run's output is deleted before it,
 * untimed.
 */
final class CliBenchmarks {
    private static final int REPEATS = 5;

    private CliBenchmarks() {
    }

    static void run(Path work, Path dist) throws Exception {
        Path folder = Files.createDirectories(work.resolve("cli"));
        deleteTree(folder.resolve("dist"));
        Benchmarks.exec("unzip", "-q", "-o", dist.toString(), "-d", folder.resolve("dist").toString());
        Path launcher;
        try (var found = Files.find(folder.resolve("dist"), 3, (p, a) -> p.endsWith("bin/graft"))) {
            launcher = found.findFirst().orElseThrow();
        }
        Path cliJar = launcher.getParent().resolveSibling("lib/graft-cli-all.jar");
        List<long[]> shapes = SyntheticModel.bertBase();
        long params = SyntheticModel.parameters(shapes);
        Path[] models = SyntheticModel.writeAll(folder, "cli", 4, shapes, 40, WriteOptions.Layout.EXTERNAL);
        for (int i = 0; i < models.length; i++) {
            raw(models[i], folder.resolve("cli" + i + ".f32"));
        }
        Files.write(folder.resolve("shapes.txt"), shapes.stream().map(s -> String.join(" ",
                Arrays.stream(s).mapToObj(Long::toString).toList())).toList());
        Path out = folder.resolve("merged.onnx");
        String[] merge = {"merge", "--method", "ties", "--base", models[0].toString(), "--model",
                models[1] + ":1", "--model", models[2] + ":1", "--model", models[3] + ":1", "--param", "density=0.2",
                "--external-data", "-o", out.toString()};
        if (Boolean.getBoolean("graft.bench.setupOnly")) {
            System.out.println("  models written: graft " + String.join(" ", merge));
            return;
        }
        double numpy = Double.parseDouble(output("python3", "bench/ties_numpy.py", folder.toString(), "3", "0.2"));
        Path cache = folder.resolve("cache");
        deleteTree(cache);
        Benchmarks.delete(out);
        List<String> graft = List.of(launcher.toString());
        String[] inHub = hubCache(folder.resolve("hub"), models, merge);
        double[][] installs = new double[REPEATS][];
        double[][] firsts = new double[REPEATS][];
        double[][] hubs = new double[REPEATS][];
        for (int i = 0; i < REPEATS; i++) { // each a first run again: its caches removed before it
            deleteTree(cache);
            Benchmarks.delete(out);
            installs[i] = cli(graft, cache, merge);
            Benchmarks.delete(out);
            deleteTree(cache.resolve("hashes"));
            firsts[i] = cli(graft, cache, merge);
            Benchmarks.delete(out);
            deleteTree(cache.resolve("hashes"));
            hubs[i] = cli(graft, cache, inHub);
        }
        double[] install = medians(installs);
        double[] first = medians(firsts);
        double[] hub = medians(hubs);
        double[][] repeated = new double[REPEATS][];
        double[][] jar = new double[REPEATS][];
        for (int i = 0; i < REPEATS; i++) {
            Benchmarks.delete(out);
            repeated[i] = cli(graft, cache, merge);
            Benchmarks.delete(out);
            jar[i] = cli(List.of("java", "-jar", cliJar.toString()), cache, merge);
        }
        double[] harness = new double[REPEATS + 1];
        for (int i = 0; i < harness.length; i++) { // the first warms the JIT, as the harness's loops do
            Benchmarks.delete(out);
            harness[i] = Benchmarks.time(() -> Graft.merge().base(models[0]).model(models[1], 1).model(models[2], 1)
                    .model(models[3], 1).method(new dev.graft.merge.Ties()).parameter("density", 0.2)
                    .layout(WriteOptions.Layout.EXTERNAL).writeTo(out));
        }
        double warm = Benchmarks.median(Arrays.copyOfRange(harness, 1, harness.length));
        double[] rep = medians(repeated);
        System.out.printf(Locale.ROOT, "cli: graft merge --method ties, base + 3 BERT-base-sized models (%.1fM "
                + "parameters each), density 0.2, external data, %d cores, median of %d%n", params / 1e6,
                Runtime.getRuntime().availableProcessors(), REPEATS);
        double jarWall = medians(jar)[0];
        System.out.printf(Locale.ROOT, "  numpy TIES in memory (loading not timed)   %6.2f s%n", numpy);
        System.out.printf(Locale.ROOT, "  graft merge, first after install           %6.2f s wall, %5.2f s CPU; "
                + "numpy / graft = %.1fx%n", install[0], install[1], numpy / install[0]);
        System.out.printf(Locale.ROOT, "  graft merge, first on new inputs (hashes)  %6.2f s wall, %5.2f s CPU; "
                + "numpy / graft = %.1fx%n", first[0], first[1], numpy / first[0]);
        System.out.printf(Locale.ROOT, "  graft merge, first, inputs in a hub cache  %6.2f s wall, %5.2f s CPU; "
                + "numpy / graft = %.1fx (the cache names them by SHA-256)%n", hub[0], hub[1], numpy / hub[0]);
        System.out.printf(Locale.ROOT, "  graft merge, repeated                      %6.2f s wall, %5.2f s CPU; "
                + "%.1f M params/s; numpy / graft = %.1fx%n", rep[0], rep[1], params / 1e6 / rep[0], numpy / rep[0]);
        System.out.printf(Locale.ROOT, "  java -jar graft-cli-all.jar, repeated      %6.2f s wall%n", jarWall);
        System.out.printf(Locale.ROOT, "  in-process, warmed (the harness figure)    %6.2f s wall, %.1f M params/s; "
                + "repeated graft / warmed = %.2fx%n", warm, params / 1e6 / warm, rep[0] / warm);
        if (Boolean.getBoolean("graft.bench.keep")) { // to profile by hand: the command is printed
            System.out.println("  kept: graft " + String.join(" ", merge));
            return;
        }
        Benchmarks.delete(out);
        for (Path m : models) {
            Benchmarks.delete(m);
        }
        deleteTree(folder);
    }

    /** The median wall and the median CPU seconds of {@code runs}. */
    private static double[] medians(double[][] runs) {
        return new double[] {Benchmarks.median(Arrays.stream(runs).mapToDouble(r -> r[0]).toArray()),
            Benchmarks.median(Arrays.stream(runs).mapToDouble(r -> r[1]).toArray())};
    }

    /**
     * {@code merge} with its inputs laid out as a Hugging Face hub cache keeps them (in {@code hub}): each model and
     * data file a blob named by its SHA-256 (a hard link: nothing copied), linked from the snapshot folder by its own
     * name.
     */
    private static String[] hubCache(Path hub, Path[] models, String[] merge) throws IOException {
        deleteTree(hub);
        String[] args = merge.clone();
        for (int i = 0; i < models.length; i++) {
            Path repository = hub.resolve("models--bench--cli" + i);
            Path blobs = Files.createDirectories(repository.resolve("blobs"));
            Path snapshot = Files.createDirectories(repository.resolve("snapshots/main"));
            for (Path file : List.of(models[i], models[i].resolveSibling(models[i].getFileName() + ".data"))) {
                String sha = MoreFiles.asByteSource(file).hash(Hashing.sha256()).toString();
                Files.createLink(blobs.resolve(sha), file);
                Files.createSymbolicLink(snapshot.resolve(file.getFileName()), Path.of("../../blobs", sha));
            }
            for (int a = 0; a < args.length; a++) {
                args[a] = args[a].replace(models[i].toString(), snapshot.resolve(models[i].getFileName()).toString());
            }
        }
        return args;
    }

    /**
     * Runs {@code graft} ({@code args} after the command that starts it) once, with its own caches (hashes, class
     * data) under {@code cache}: {wall seconds, CPU seconds (user + system)}.
     */
    private static double[] cli(List<String> graft, Path cache, String... args) throws Exception {
        Path times = Files.createTempFile("graft-time", ".txt");
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/time", "-o", times.toString(), "-f", "%e %U %S"));
        cmd.addAll(graft);
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("GRAFT_CACHE_DIR", cache.resolve("hashes").toString());
        pb.environment().put("XDG_CACHE_HOME", cache.toString());
        Process p = pb.start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("graft " + String.join(" ", args) + " failed");
        }
        String[] t = Files.readString(times).strip().split("\\s+");
        Files.delete(times);
        return new double[] {Double.parseDouble(t[0]), Double.parseDouble(t[1]) + Double.parseDouble(t[2])};
    }

    /** Every float tensor of {@code model}, one after another, as raw little-endian float32 (for numpy). */
    private static void raw(Path model, Path file) throws IOException {
        try (OnnxModel m = OnnxModel.open(model); OutputStream out = Files.newOutputStream(file)) {
            for (Weight w : m.initializers()) {
                float[] v = w.toFloats();
                ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(v);
                out.write(b.array());
            }
        }
    }

    private static String output(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        if (p.waitFor() != 0) {
            throw new IllegalStateException(String.join(" ", cmd) + " failed");
        }
        return out;
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (var s = Files.walk(p)) {
            for (Path f : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
    }
}
