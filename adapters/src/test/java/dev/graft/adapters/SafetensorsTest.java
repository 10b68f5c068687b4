package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.tensor.ElementType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
    @TempDir
    Path dir;

    /** A file laid out by hand from the format's description: length, JSON header, data. */
    private Path file(String header, float... data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        for (float f : data) {
            b.putFloat(f);
        }
        Path p = dir.resolve("t.safetensors");
        Files.write(p, b.array());
        return p;
    }

    @Test
    void aFileLaidOutByHandIsReadWithItsMetadata() throws IOException {
        Path p = file("{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                + "[8,12]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 1, 2, 3);
        try (Safetensors s = Safetensors.open(p)) {
            assertThat(s.metadata()).containsExactly(Map.entry("format", "pt"));
            assertThat(s.entries().keySet()).containsExactly("a", "b");
            assertThat(s.floats("a")).containsExactly(1, 2);
            assertThat(s.floats("b")).containsExactly(3);
            assertThat(s.entry("a").orElseThrow().shape()).containsExactly(2);
        }
    }

    @Test
    void whatTheWriterWritesReadsBackInEveryDtype() {
        Path p = dir.resolve("w.safetensors");
        float[] values = {0.5f, -2f, 1.25f, 0f, 3f, -0.75f};
        List<SafetensorsWriter.Tensor> tensors = List.of(
                SafetensorsWriter.Tensor.of("f32", new long[] {2, 3}, values),
                new SafetensorsWriter.Tensor("f16", ElementType.FLOAT16, new long[] {3, 2}, values),
                new SafetensorsWriter.Tensor("bf16", ElementType.BFLOAT16, new long[] {6}, values),
                new SafetensorsWriter.Tensor("f64", ElementType.DOUBLE, new long[] {1, 6}, values),
                SafetensorsWriter.Tensor.of("empty", new long[] {0, 4}, new float[0]));
        SafetensorsWriter.write(p, Map.of("graft", "test"), tensors);
        try (Safetensors s = Safetensors.open(p)) {
            assertThat(s.metadata()).containsEntry("graft", "test");
            for (SafetensorsWriter.Tensor t : tensors) {
                Safetensors.Entry e = s.entry(t.name()).orElseThrow();
                assertThat(e.type()).isEqualTo(t.type());
                assertThat(e.shape()).isEqualTo(t.shape());
                assertThat(s.floats(t.name())).containsExactly(t.values());
            }
        }
        assertThat(dir.toFile().list()).containsExactly("w.safetensors"); // no temporary file left
    }

    @Test
    void malformedFilesAreRefusedNamingTheProblem() throws IOException {
        Path p = dir.resolve("short.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        assertThatThrownBy(() -> Safetensors.open(p)).isInstanceOf(AdapterFormatException.class)
                .hasMessageContaining("short.safetensors").hasMessageContaining("shorter than the 8-byte");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(p, huge.array());
        assertThatThrownBy(() -> Safetensors.open(p)).hasMessageContaining("header of 1000 bytes");
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertThatThrownBy(() -> Safetensors.open(file("{" + a, 1, 2))).hasMessageContaining("not valid JSON");
        assertThatThrownBy(() -> Safetensors.open(file("[1, 2]", 1, 2))).hasMessageContaining("not a JSON object");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":"
                + "[0,8]}}", 1, 2))).hasMessageContaining("'a'").hasMessageContaining("dtype I64");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":"
                + "[0,8]}}", 1, 2))).hasMessageContaining("needs 12 bytes; data_offsets give 8");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                + "[4,12]}}", 1, 2))).hasMessageContaining("not a range inside the 8 bytes");
        assertThatThrownBy(() -> Safetensors.open(file("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],"
                + "\"data_offsets\":[4,8]}}", 1, 2))).hasMessageContaining("overlaps");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
                + "[4,8]}}", 1, 2))).hasMessageContaining("leaving bytes [0, 4)");
        assertThatThrownBy(() -> Safetensors.open(file("{" + a + "}", 1, 2, 3)))
                .hasMessageContaining("12 bytes of data but its tensors hold 8");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                + "[0,8],\"extra\":1}}", 1, 2))).hasMessageContaining("unknown key 'extra'");
        assertThatThrownBy(() -> Safetensors.open(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":"
                + "[0,8]}}", 1, 2))).hasMessageContaining("non-negative integers");
    }

    @Test
    void theWriterRefusesTensorsThatDoNotAddUpAndLeavesNoFile() {
        Path p = dir.resolve("bad.safetensors");
        assertThatThrownBy(() -> SafetensorsWriter.write(p, Map.of(),
                List.of(SafetensorsWriter.Tensor.of("a", new long[] {2, 2}, new float[3]))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("3 values for shape [2, 2]");
        assertThatThrownBy(() -> SafetensorsWriter.write(p, Map.of(), List.of(
                new SafetensorsWriter.Tensor("a", ElementType.INT8, new long[] {1}, new float[1]))))
                .hasMessageContaining("not int8");
        assertThat(p).doesNotExist();
    }
}
