package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Float arrays written as .npy read back as written, with numpy's header layout. */
class NpyArrayWriteTest {
    @TempDir
    Path dir;

    @Test
    void writtenArraysReadBack() throws Exception {
        Path two = dir.resolve("two.npy");
        NpyArray.writeFloats(two, new float[] {1, 2, 3, -4.5f, 5, 6}, 2, 3);
        NpyArray a = NpyArray.read(two);
        assertThat(a.shape()).containsExactly(2, 3);
        assertThat(a.floats()).containsExactly(1, 2, 3, -4.5f, 5, 6);
        assertThat((Files.size(two) - 4 * 6) % 64).isZero(); // magic, version, length and header: a multiple of 64
        Path one = dir.resolve("one.npy");
        NpyArray.writeFloats(one, new float[] {7, 8}, 2);
        assertThat(NpyArray.read(one).shape()).containsExactly(2);
        assertThat(new String(Files.readAllBytes(one), 10, 60, java.nio.charset.StandardCharsets.US_ASCII))
                .startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }");
    }
}
