package dev.graft.fuzz;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.graft.GraftException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * What a reader must do with a file a stranger made: return, or throw a {@link GraftException} that names a file in
 * the folder it was given (or one the input names itself), within {@link #TIME}, allocating at most {@link #budget}
 * for the input's size (measured on a second read of the same input, so that loading classes does not count). Anything
 * else (another exception, an error, a hang, an allocation beyond the bound) fails the fuzz test, and Jazzer keeps the
 * input.
 */
final class HostileFiles {
    /** How long one input may take. */
    static final Duration TIME = Duration.ofSeconds(20);

    /** Reads a file. */
    interface Reader {
        void read(Path file) throws Exception;
    }

    private HostileFiles() {
    }

    /**
     * The bytes a reader may allocate for an input of {@code size} bytes: 64 per input byte, and 16 MiB (a count or
     * shape taken on trust asks for gigabytes).
     */
    static long budget(long size) {
        return 64 * size + (16L << 20);
    }

    /** Writes {@code bytes} to {@code name} in a fresh folder and has {@code reader} read it. */
    static void check(byte[] bytes, String name, Reader reader) {
        check(bytes, java.util.Map.of(name, bytes), name, reader);
    }

    /**
     * Writes each of {@code files} (name to contents) into a fresh folder and has {@code reader} read {@code name}
     * among them (a model and its external data file); {@code bytes} is the input they were cut from.
     */
    static void check(byte[] bytes, java.util.Map<String, byte[]> files, String name, Reader reader) {
        Path folder;
        try {
            folder = Files.createTempDirectory("graft-fuzz").toAbsolutePath();
            for (java.util.Map.Entry<String, byte[]> f : files.entrySet()) {
                Files.write(folder.resolve(f.getKey()), f.getValue());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            assertTimeoutPreemptively(TIME, () -> {
                com.sun.management.ThreadMXBean threads =
                        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
                String text = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1) + "\n"
                        + new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
                read(reader, folder, name, text); // loads (and, fuzzing, instruments) the classes it reaches
                long before = threads.getCurrentThreadAllocatedBytes();
                read(reader, folder, name, text);
                long used = threads.getCurrentThreadAllocatedBytes() - before;
                if (used > budget(bytes.length)) {
                    throw new AssertionError("reading " + bytes.length + " bytes allocated " + used + " (at most "
                            + budget(bytes.length) + ")");
                }
            }, "reading " + bytes.length + " bytes took longer than " + TIME);
        } finally {
            delete(folder);
        }
    }

    /**
     * Reads; a refusal must name its file, one in {@code folder} or one the input itself names ({@code text} holds
     * its last element: a recipe's absolute path, however written, is the user's to name).
     */
    private static void read(Reader reader, Path folder, String name, String text) throws Exception {
        try {
            reader.read(folder.resolve(name));
        } catch (GraftException e) {
            boolean named = e.file().map(f -> (f.toAbsolutePath().startsWith(folder) || f.getFileName() != null
                    && text.contains(f.getFileName().toString())) && e.getMessage().contains(f.toString()))
                    .orElse(false);
            if (!named) {
                throw new AssertionError("a refusal that names no file in " + folder + " or the input: "
                        + e.getMessage(), e);
            }
        }
    }

    private static void delete(Path folder) {
        try (Stream<Path> files = Files.walk(folder)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
