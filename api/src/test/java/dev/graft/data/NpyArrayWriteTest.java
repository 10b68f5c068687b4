package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Float arrays written as .npy read back as written, with numpy's header layout; headers a stranger made (a
 * truncated preamble, shapes that are not numbers, negative or larger than the data) are refused naming the file
 * before anything is allocated.
 */
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

    @Test
    void hostileHeadersAreRefusedNamingTheFile() throws Exception {
        String[] shapes = {"(x, 2)", "(-3,)", "(4294967296, 4294967296)", "(9223372036854775807, 2)"};
        for (String shape : shapes) {
            Path f = dir.resolve("bad.npy");
            String header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
            byte[] h = header.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(10 + h.length + 8)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            b.put((byte) 0x93).put("NUMPY".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put((byte) 1)
                    .put((byte) 0).putShort((short) h.length).put(h);
            Files.write(f, b.array());
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> NpyArray.read(f)).as(shape)
                    .isInstanceOf(dev.graft.GraftException.class).hasMessageContaining("bad.npy");
        }
        Path preamble = dir.resolve("preamble.npy");
        Files.write(preamble, new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 22, 1});
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> NpyArray.read(preamble))
                .isInstanceOf(dev.graft.GraftException.class).hasMessageContaining("preamble");
    }
}
