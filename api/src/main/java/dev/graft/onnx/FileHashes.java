package dev.graft.onnx;

import com.google.common.hash.Hasher;
import com.google.common.hash.Hashing;
import dev.graft.GraftException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * SHA-256 of input files for provenance, remembered across runs (as git's index remembers file states): an
 * entry is reused only while the file's real path, size, modification time and file key (device and inode)
 * are unchanged; otherwise the file is read again. The cache is a tab-separated file {@code sha256-v1.tsv} in
 * {@code $GRAFT_CACHE_DIR}, else {@code $XDG_CACHE_HOME/graft}, else {@code ~/.cache/graft}; if it cannot be
 * written, hashes are simply not remembered. Files are read with a small buffer, never mapped.
 *
 * <p>A file in a Hugging Face hub cache is not read at all when the cache names it by its SHA-256: huggingface_hub
 * keeps each large (Git LFS) file of a repository once, as {@code models--ORG--NAME/blobs/SHA256} (a snapshot's file is
 * a link to it), and checks the content against that hash when it downloads it. Graft takes the name as the hash, as
 * the hub's own tools do; the smaller files, named by their git SHA-1 (40 digits), are hashed.
 */
public final class FileHashes {
    private static final String FILE = "sha256-v1.tsv";
    private static volatile FileHashes shared;

    private final Path cacheFile;
    private final Map<String, String> entries = new HashMap<>();
    private final AtomicLong computed = new AtomicLong();
    private boolean loaded;

    /** A cache kept in {@code folder} (null: in memory only). */
    public FileHashes(Path folder) {
        this.cacheFile = folder == null ? null : folder.resolve(FILE);
    }

    /** The cache in the user's cache folder. */
    public static FileHashes shared() {
        FileHashes h = shared;
        if (h == null) {
            synchronized (FileHashes.class) {
                if (shared == null) {
                    shared = new FileHashes(defaultFolder());
                }
                h = shared;
            }
        }
        return h;
    }

    private static Path defaultFolder() {
        String explicit = System.getenv("GRAFT_CACHE_DIR");
        if (explicit != null && !explicit.isEmpty()) {
            return Path.of(explicit);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isEmpty()) {
            return Path.of(xdg, "graft");
        }
        String home = System.getProperty("user.home");
        return home == null ? null : Path.of(home, ".cache", "graft");
    }

    /** The hex SHA-256 of {@code file}, from the cache when the file is unchanged (or its hub cache name). */
    public String sha256(Path file) {
        String key;
        try {
            Path real = file.toRealPath();
            String named = hubBlobHash(real);
            if (named != null) {
                return named;
            }
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            key = a.size() + "\t" + a.lastModifiedTime().toInstant() + "\t" + a.fileKey() + "\t" + real;
        } catch (IOException e) {
            throw new GraftException(file, null, "cannot read: " + e.getMessage(), e);
        }
        synchronized (this) {
            load();
            String known = entries.get(key);
            if (known != null) {
                return known;
            }
        }
        String hash = compute(file);
        computed.incrementAndGet();
        synchronized (this) {
            entries.put(key, hash);
            append(hash + "\t" + key);
        }
        return hash;
    }

    /** The SHA-256 a Hugging Face hub cache names the file at {@code real} (a real path) by, or null. */
    static String hubBlobHash(Path real) {
        Path blobs = real.getParent();
        Path repository = blobs == null ? null : blobs.getParent();
        if (repository == null || repository.getFileName() == null || !blobs.getFileName().toString().equals("blobs")
                || !HUB_REPOSITORY.matcher(repository.getFileName().toString()).matches()) {
            return null;
        }
        String name = real.getFileName().toString();
        return SHA256.matcher(name).matches() ? name : null;
    }

    private static final Pattern HUB_REPOSITORY = Pattern.compile("(models|datasets|spaces)--.+");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    /** How many files this instance has read to hash (not served from the cache). */
    public long computed() {
        return computed.get();
    }

    private static String compute(Path file) {
        Hasher hasher = Hashing.sha256().newHasher();
        ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buffer.clear()) > 0) {
                hasher.putBytes(buffer.flip());
            }
        } catch (IOException e) {
            throw new GraftException(file, null, "cannot read: " + e.getMessage(), e);
        }
        return hasher.hash().toString();
    }

    private void load() {
        if (loaded) {
            return;
        }
        loaded = true;
        if (cacheFile == null || !Files.isRegularFile(cacheFile)) {
            return;
        }
        try {
            List<String> lines = Files.readAllLines(cacheFile, StandardCharsets.UTF_8);
            for (String line : lines) {
                int tab = line.indexOf('\t');
                if (tab == 64) {
                    entries.put(line.substring(tab + 1), line.substring(0, tab));
                }
            }
        } catch (IOException e) {
            // an unreadable cache only means hashing again
        }
    }

    private void append(String line) {
        if (cacheFile == null) {
            return;
        }
        try {
            Files.createDirectories(cacheFile.getParent());
            Files.writeString(cacheFile, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            // not writable: hashes are not remembered, nothing else changes
        }
    }
}
