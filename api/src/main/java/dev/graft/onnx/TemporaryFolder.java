package dev.graft.onnx;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * A folder for intermediate models (aligned copies, interpolated models, models with values exposed), deleted
 * with everything in it when closed. A folder that cannot be deleted is left behind silently: it is harmless.
 */
public final class TemporaryFolder implements AutoCloseable {
    private final Path path;

    private TemporaryFolder(Path path) {
        this.path = path;
    }

    /** A new folder in the system's temporary folder. */
    public static TemporaryFolder create(String prefix) {
        try {
            return new TemporaryFolder(Files.createTempDirectory(prefix));
        } catch (IOException e) {
            throw new GraftIoException(Path.of(System.getProperty("java.io.tmpdir")), "used for a temporary folder", e);
        }
    }

    /** A new hidden folder inside {@code parent} (on the same file system as an output there). */
    public static TemporaryFolder in(Path parent, String prefix) {
        try {
            return new TemporaryFolder(Files.createTempDirectory(parent, prefix));
        } catch (IOException e) {
            throw new GraftIoException(parent, "used for a temporary folder", e);
        }
    }

    /** The folder. */
    public Path path() {
        return path;
    }

    /** A path inside the folder. */
    public Path resolve(String name) {
        return path.resolve(name);
    }

    @Override
    public void close() {
        try (Stream<Path> files = Files.list(path)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.deleteIfExists(f);
            }
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // left behind: harmless
        }
    }
}
