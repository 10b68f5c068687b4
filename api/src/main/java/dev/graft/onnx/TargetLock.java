package dev.graft.onnx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Serialises the moment a result's files are moved into place ({@code model.onnx} and {@code model.onnx.data}, two
 * renames) between writers of the same target, in this process and others, so that two runs writing one target leave
 * one run's model with that same run's data. A hidden lock file ({@code .NAME.lock}) beside the target, locked while
 * held and removed when released. A run that locked a lock file another had just removed notices (the file at the path
 * is not the one it holds: each holder writes its own token into it) and tries again.
 */
final class TargetLock implements AutoCloseable {
    private final Path path;
    private final FileChannel channel;

    private TargetLock(Path path, FileChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    /** Waits for and takes the lock of {@code target} (an absolute path). */
    static TargetLock of(Path target) throws IOException {
        Path path = target.resolveSibling("." + target.getFileName() + ".lock");
        long token = java.util.concurrent.ThreadLocalRandom.current().nextLong() | 1; // 0 is "none"
        while (true) {
            FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            boolean held = false;
            try {
                lock(ch);
                ch.truncate(0);
                ch.write(ByteBuffer.allocate(Long.BYTES).putLong(0, token), 0);
                held = token(path) == token;
                if (held) {
                    return new TargetLock(path, ch);
                }
            } finally {
                if (!held) {
                    ch.close();
                }
            }
        }
    }

    /** Takes the channel's lock, waiting while a thread of this process holds it. */
    private static void lock(FileChannel ch) throws IOException {
        while (true) {
            try {
                ch.lock();
                return;
            } catch (java.nio.channels.OverlappingFileLockException e) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for the lock");
                }
            }
        }
    }

    /** The token in the file at {@code path} now, or 0 if it is gone or not yet written. */
    private static long token(Path path) throws IOException {
        try {
            byte[] b = Files.readAllBytes(path);
            return b.length == Long.BYTES ? ByteBuffer.wrap(b).getLong() : 0;
        } catch (NoSuchFileException e) {
            return 0;
        }
    }

    /** Removes the lock file and releases the lock. */
    @Override
    public void close() throws IOException {
        try {
            Files.deleteIfExists(path);
        } finally {
            channel.close();
        }
    }
}
