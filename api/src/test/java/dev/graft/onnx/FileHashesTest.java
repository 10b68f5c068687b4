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

    @Test
    void worksWithoutAWritableCache() throws Exception {
        Path file = Files.write(dir.resolve("weights.bin"), new byte[] {5});
        Path blocked = Files.writeString(dir.resolve("not-a-folder"), "x");
        FileHashes h = new FileHashes(blocked);
        assertThat(h.sha256(file)).isEqualTo(Hashing.sha256().hashBytes(new byte[] {5}).toString());
        assertThat(new FileHashes(null).sha256(file)).isEqualTo(h.sha256(file));
    }
}
