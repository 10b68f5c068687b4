package dev.graft.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.common.hash.Hashing;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileHashesTest {
    @TempDir
    Path dir;

    @Test
    void remembersHashesUntilTheFileChanges() throws Exception {
        Path file = Files.write(dir.resolve("weights.bin"), new byte[] {1, 2, 3, 4});
        Path cache = dir.resolve("cache");
        FileHashes first = new FileHashes(cache);
        assertThat(first.sha256(file)).isEqualTo(Hashing.sha256().hashBytes(new byte[] {1, 2, 3, 4}).toString());
        assertThat(first.sha256(file)).isNotNull();
        assertThat(first.computed()).isEqualTo(1);

        FileHashes later = new FileHashes(cache); // as a later run would
        later.sha256(file);
        assertThat(later.computed()).as("served from the cache file").isZero();

        // same size, new content and modification time: hashed again
        Files.write(file, new byte[] {9, 9, 9, 9});
        Files.setLastModifiedTime(file, FileTime.from(Instant.now().plusSeconds(5)));
        assertThat(later.sha256(file)).isEqualTo(Hashing.sha256().hashBytes(new byte[] {9, 9, 9, 9}).toString());
        assertThat(later.computed()).isEqualTo(1);
    }

    /**
     * A snapshot file of a Hugging Face hub cache that links to a blob named by a SHA-256 takes the name as its hash,
     * without reading the file; a blob named otherwise (a git SHA-1), or a "blobs" folder outside a hub repository
     * folder, is read and hashed.
     */
    @Test
    void aHubCacheBlobIsNamedByItsHash() throws Exception {
        byte[] content = {7, 7, 7};
        String sha = Hashing.sha256().hashBytes(content).toString();
        Path repository = dir.resolve("hub/models--org--bert");
        Path blob = Files.write(Files.createDirectories(repository.resolve("blobs")).resolve(sha), content);
        Path snapshot = Files.createDirectories(repository.resolve("snapshots/0123abc"));
        Path linked = Files.createSymbolicLink(snapshot.resolve("model.onnx"), Path.of("../../blobs/" + sha));
        FileHashes h = new FileHashes(null);
        assertThat(h.sha256(linked)).isEqualTo(sha);
        assertThat(h.sha256(blob)).isEqualTo(sha);
        assertThat(h.computed()).as("named, not read").isZero();

        // the name is trusted (as the hub's tools trust it): a blob whose content no longer matches keeps its name
        Files.write(blob, new byte[] {1});
        assertThat(h.sha256(linked)).isEqualTo(sha);

        String gitSha1 = sha.substring(0, 40); // a small file's blob is named by 40 hex digits
        Path small = Files.write(repository.resolve("blobs").resolve(gitSha1), content);
        assertThat(h.sha256(small)).isEqualTo(sha);
        Path elsewhere = Files.write(Files.createDirectories(dir.resolve("mine/blobs")).resolve(sha), content);
        assertThat(h.sha256(elsewhere)).isEqualTo(sha);
        assertThat(h.computed()).as("both read").isEqualTo(2);
    }

    @Test
    void worksWithoutAWritableCache() throws Exception {
        Path file = Files.write(dir.resolve("weights.bin"), new byte[] {5});
        Path blocked = Files.writeString(dir.resolve("not-a-folder"), "x");
        FileHashes h = new FileHashes(blocked);
        assertThat(h.sha256(file)).isEqualTo(Hashing.sha256().hashBytes(new byte[] {5}).toString());
        assertThat(new FileHashes(null).sha256(file)).isEqualTo(h.sha256(file));
    }
}
