package dev.graft.adapters;

import dev.graft.GraftIoException;
import dev.graft.onnx.TemporaryFile;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Writes a file through a {@link TemporaryFile} beside it, synced and moved into place: a failure leaves no file, and a
 * killed run's leftover is removed by the next write.
 */
final class AtomicFile {
    /** What goes into the file. */
    interface Content {
        void writeTo(FileChannel out) throws IOException;
    }

    private AtomicFile() {
    }

    static void write(Path target, Content content) {
        try (TemporaryFile temp = TemporaryFile.beside(target)) {
            content.writeTo(temp.channel());
            temp.channel().force(true);
            temp.moveTo(target);
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        }
    }

    /** Writes all of {@code data}. */
    static void writeFully(FileChannel out, java.nio.ByteBuffer data) throws IOException {
        while (data.hasRemaining()) {
            out.write(data);
        }
    }
}
