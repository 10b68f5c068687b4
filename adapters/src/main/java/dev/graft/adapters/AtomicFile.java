package dev.graft.adapters;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Writes a file through a temporary file beside it, synced and moved into place: a failure leaves no file. */
final class AtomicFile {
    /** What goes into the file. */
    interface Content {
        void writeTo(FileChannel out) throws IOException;
    }

    private AtomicFile() {
    }

    static void write(Path target, Content content) {
        Path temp = null;
        try {
            Path folder = Files.createDirectories(target.toAbsolutePath().getParent());
            temp = Files.createTempFile(folder, "." + target.getFileName(), ".tmp");
            try (FileChannel out = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                content.writeTo(out);
                out.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        } finally {
            if (temp != null) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException ignored) {
                    // the error being thrown, if any, says what failed
                }
            }
        }
    }

    /** Writes all of {@code data}. */
    static void writeFully(FileChannel out, java.nio.ByteBuffer data) throws IOException {
        while (data.hasRemaining()) {
            out.write(data);
        }
    }
}
