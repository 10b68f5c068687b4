package dev.graft.bench;

import dev.graft.Graft;
import dev.graft.merge.Ties;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * A decoder LLM with Qwen2.5-1.5B's shapes ({@link SyntheticDecoder}): TIES (density 0.5) of a base and three
 * fine-tunes, file to file, each run one child JVM as a user runs {@code graft merge}, against {@code cp} of the
 * four inputs measured alternately in the same run, each merge one child JVM under {@code -Xmx1g} (peak RSS
 * reported): fp16 with external data, and the int4 {@code MatMulNBits} build (dequantize, merge, requantize). {@code bench/run.sh
 * decoder|decoder-fp16|decoder-int4 [WORK]}; {@code -Dgraft.bench.layers=N} for a shallower model,
 * {@code -Dgraft.bench.heap=12g} for another heap. The models stay
 * in the work folder for the next run.
 */
final class DecoderBenchmarks {
    private static final int REPEATS = 3;
    private static final String[] NAMES = {"base", "ft1", "ft2", "ft3"};

    private DecoderBenchmarks() {
    }

    static void run(Path work, boolean fp16, boolean int4) throws Exception {
        SyntheticDecoder.Shape full = SyntheticDecoder.Shape.QWEN_1_5B;
        SyntheticDecoder.Shape shape = new SyntheticDecoder.Shape(full.hidden(),
                Integer.getInteger("graft.bench.layers", full.layers()), full.kvWidth(), full.ffn(), full.vocab());
        // -Dgraft.bench.heap=12g: a larger heap, so that fewer tensors exceed the budget and are merged in slices
        String heap = "-Xmx" + System.getProperty("graft.bench.heap", "1g");
        if (fp16) {
            merge(work.resolve("decoder-fp16"), shape, false, heap);
        }
        if (int4) {
            // quantized weights larger than the budget are merged in slices of whole columns, as float ones are
            merge(work.resolve("decoder-int4"), shape, true, heap);
        }
    }

    private static void merge(Path folder, SyntheticDecoder.Shape shape, boolean int4, String heap) throws Exception {
        Path[] models = new Path[NAMES.length];
        double generated = Benchmarks.time(() -> {
            for (int i = 0; i < NAMES.length; i++) {
                models[i] = Files.createDirectories(folder.resolve(NAMES[i])).resolve("model.onnx");
                if (!Files.exists(models[i])) {
                    SyntheticDecoder.write(models[i], shape, int4, i);
                }
            }
        });
        long inputBytes = 0;
        for (Path m : models) {
            inputBytes += folderBytes(m.getParent());
        }
        Path out = folder.resolve("merged/model.onnx");
        Path copies = folder.resolve("cp");
        double[] cp = new double[REPEATS];
        double[] ties = new double[REPEATS];
        long[] rss = new long[REPEATS];
        for (int r = 0; r < REPEATS; r++) {
            deleteFolder(copies);
            Files.createDirectories(copies);
            Benchmarks.exec("sync");
            List<String> cpCommand = new ArrayList<>(List.of("cp", "-r"));
            Arrays.stream(models).map(m -> m.getParent().toString()).forEach(cpCommand::add);
            cpCommand.add(copies.toString());
            cp[r] = Benchmarks.time(() -> Benchmarks.exec(cpCommand.toArray(String[]::new)));
            deleteFolder(copies); // the copies leave the page cache to the inputs
            deleteFolder(out.getParent());
            Benchmarks.exec("sync");
            long[] peak = new long[1];
            ties[r] = Benchmarks.time(() -> peak[0] = child(heap, models, out));
            rss[r] = peak[0];
        }
        long outputBytes = folderBytes(out.getParent());
        double params = shape.parameters() / 1e6;
        System.out.printf(Locale.ROOT, "decoder %s: %d layers of Qwen2.5-1.5B's shapes (%.0fM parameters), TIES density "
                + "0.5 of a base and 3 fine-tunes; inputs %.2f GB, output %.2f GB (generated in %.0f s); %d runs, "
                + "alternating%n", int4 ? "int4 MatMulNBits (block 32)" : "fp16, external data", shape.layers(), params,
                inputBytes / 1e9, outputBytes / 1e9, generated, REPEATS);
        for (int r = 0; r < REPEATS; r++) {
            System.out.printf(Locale.ROOT, "  run %d: cp of the 4 inputs %6.1f s (%5.0f MB/s); graft TIES (one JVM, %s) "
                    + "%6.1f s (%5.0f MB/s read, %5.1f M params/s) = %.2f x cp; peak RSS %d MB%s%n", r + 1, cp[r],
                    inputBytes / 1e6 / cp[r], heap, ties[r], inputBytes / 1e6 / ties[r], params / ties[r],
                    ties[r] / cp[r], rss[r] >> 20, r == 0 ? " (first run: hashes the inputs for provenance)" : "");
        }
        deleteFolder(out.getParent());
    }

    /** One TIES in a child JVM with {@code heap}; returns its peak RSS in bytes. */
    private static long child(String heap, Path[] models, Path out) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, heap, "-cp", System.getProperty("java.class.path"),
                Benchmarks.class.getName(), "convert-child", "decoder-ties", out.toString()));
        Arrays.stream(models).map(Path::toString).forEach(command::add);
        return Benchmarks.peakRss(command);
    }

    /** The child's work: TIES of {@code args[3]} (base) and {@code args[4..]} into {@code args[2]}. */
    static void childMerge(String[] args) {
        var b = Graft.merge().base(Path.of(args[3]));
        for (int i = 4; i < args.length; i++) {
            b.model(Path.of(args[i]), 1);
        }
        b.method(new Ties()).parameter("density", 0.5).writeTo(Path.of(args[2]));
    }

    private static long folderBytes(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.mapToLong(p -> p.toFile().length()).sum();
        }
    }

    private static void deleteFolder(Path folder) throws IOException {
        if (!Files.exists(folder)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(folder)) {
            for (Path p : walk.sorted((a, b) -> b.getNameCount() - a.getNameCount()).toList()) {
                Files.delete(p);
            }
        }
    }
}
