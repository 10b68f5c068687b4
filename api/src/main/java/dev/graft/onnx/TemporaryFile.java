package dev.graft.onnx;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * A file written beside its target under a hidden temporary name ({@code .NAME.RANDOM.tmp}, in the target's folder,
 * so that the final move is a rename within one file system), locked for as long as its writer has it open. A
 * temporary file whose writer died (a killed process) holds no lock, and the next write beside the same target
 * removes it and says so ({@link System.Logger} {@code dev.graft}, level WARNING); one another live writer holds is
 * left alone. Closing deletes the file unless it was {@linkplain #moveTo moved} into place.
 */
public final class TemporaryFile implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.graft");
    private final Path path;
    private final FileChannel channel;
    private boolean moved;

    private TemporaryFile(Path path, FileChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    /**
     * A new, empty, locked temporary file for {@code target}, opened for writing, with the permissions any new file
     * gets in that folder; stale temporary files of the same target are removed first.
     */
    public static TemporaryFile beside(Path target) throws IOException {
        Path folder = Files.createDirectories(target.toAbsolutePath().getParent());
        String name = target.getFileName().toString();
        removeStale(folder, name);
        java.util.concurrent.ThreadLocalRandom random = java.util.concurrent.ThreadLocalRandom.current();
        for (int attempt = 0; ; attempt++) {
            Path p = folder.resolve(prefix(name) + Long.toUnsignedString(random.nextLong(), 36) + ".tmp");
            FileChannel ch;
            try {
                ch = FileChannel.open(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt >= 16) {
                    throw e;
                }
                continue;
            }
            ch.lock();
            // another run may have taken the file for stale and removed it before the lock: then start again (no one
            // else makes a file of this random name, so one there now is this one)
            if (Files.exists(p)) {
                return new TemporaryFile(p, ch);
            }
            ch.close();
            if (attempt >= 16) {
                throw new IOException("temporary file " + p + " was removed while being created");
            }
        }
    }

    /** The temporary file. */
    public Path path() {
        return path;
    }

    /** The open, locked channel to write it through. */
    public FileChannel channel() {
        return channel;
    }

    /** Renames the file to {@code target} (atomically where the file system can), still locked until closed. */
    public void moveTo(Path target) throws IOException {
        try {
            Files.move(path, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(path, target, StandardCopyOption.REPLACE_EXISTING);
        }
        moved = true;
    }

    /** Closes the channel (releasing the lock) and deletes the file unless it was moved. */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // deleted next, or already in place
        }
        if (!moved) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // left behind: the next write beside the target removes it
            }
        }
    }

    /**
     * A second, locked name for {@code file} under a temporary name beside it (a hard link: no bytes copied), so that
     * it can be {@linkplain #moveTo moved} back after {@code file} is replaced; closing it removes the name only. Null
     * if there is no such file or the file system cannot link it. A link a killed run leaves is removed by the next
     * write, as any stale temporary file is.
     */
    static TemporaryFile linkBeside(Path file) throws IOException {
        if (!Files.isRegularFile(file, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return null;
        }
        Path link = file.resolveSibling(prefix(file.getFileName().toString())
                + Long.toUnsignedString(java.util.concurrent.ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
        try {
            Files.createLink(link, file);
        } catch (UnsupportedOperationException | java.nio.file.FileSystemException e) {
            return null; // no hard links here: the previous file cannot be kept
        }
        try {
            FileChannel ch = FileChannel.open(link, StandardOpenOption.WRITE);
            ch.lock();
            return new TemporaryFile(link, ch);
        } catch (IOException e) {
            Files.deleteIfExists(link);
            return null; // not writable by this user: not kept
        }
    }

    /**
     * Removes the temporary files of {@code name} in {@code folder} that no live writer holds; returns them.
     */
    static List<Path> removeStale(Path folder, String name) throws IOException {
        List<Path> removed = new ArrayList<>();
        String prefix = prefix(name);
        try (DirectoryStream<Path> files = Files.newDirectoryStream(folder, f -> isTemporary(f, prefix))) {
            for (Path f : files) {
                try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                    FileLock lock = ch.tryLock();
                    if (lock != null) {
                        Files.delete(f);
                        removed.add(f);
                        LOG.log(System.Logger.Level.WARNING, "removed " + f + ": a temporary file left by a write "
                                + "that did not finish (a killed process)");
                    }
                } catch (OverlappingFileLockException | IOException e) {
                    // written by this process right now, removed by another run meanwhile, or not ours to remove
                }
            }
        }
        return removed;
    }

    private static String prefix(String name) {
        return "." + name + ".";
    }

    private static boolean isTemporary(Path f, String prefix) {
        String n = f.getFileName().toString();
        return n.startsWith(prefix) && n.endsWith(".tmp") && n.length() > prefix.length() + 4
                && n.substring(prefix.length(), n.length() - 4).matches("[0-9a-z]+");
    }
}
