package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrationSpecTest {
    @TempDir
    Path dir;

    /** A float32 .npy array of shape [rows, cols] with values 0, 1, 2, ... */
    private Path npy(String name, int rows, int cols) throws IOException {
        String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
        int pad = 64 - (10 + header.length() + 1) % 64;
        header = header + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + rows * cols * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length()).put(header.getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < rows * cols; i++) {
            b.putFloat(i);
        }
        return Files.write(dir.resolve(name), b.array());
    }

    @Test
    void anArrayFeedsTheModelsFirstInputUnlessOneIsNamed() throws IOException {
        Path model = TinyModels.save(TinyModels.mlp(1), dir.resolve("m.onnx"));
        Path data = npy("data.npy", 70, TinyModels.IN);
        Calibration c = new CalibrationSpec(data, null, null, 10).load(model);
        assertThat(c.samples()).isEqualTo(70);
        assertThat(c.batches()).hasSize(2); // 64 rows a batch
        assertThat(c.batches().get(0)).containsOnlyKeys("x");
        assertThat(c.batches().get(1).get("x").shape()).containsExactly(6, TinyModels.IN);
        assertThat(new CalibrationSpec(data, null, "other", 10).load(model).batches().get(0)).containsOnlyKeys("other");
    }

    @Test
    void textIsPaddedToTheLongestOfEachBatchWithMaskZeros() throws IOException {
        Path tokenizer = RealModels.bgeSmall().resolveSibling("bge-small-en-v1.5-tokenizer.json");
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 20; i++) {
            text.append("word ".repeat(1 + i % 7)).append('\n');
        }
        Path file = Files.writeString(dir.resolve("t.txt"), text);
        Calibration c = new CalibrationSpec(file, tokenizer, null, 100).load(RealModels.bgeSmall());
        assertThat(c.samples()).isEqualTo(20);
        assertThat(c.batches()).hasSize(2); // 16 + 4
        long real = 0;
        for (var batch : c.batches()) {
            long[] mask = batch.get("attention_mask").longs();
            long[] ids = batch.get("input_ids").longs();
            int length = (int) batch.get("input_ids").shape()[1];
            for (int k = 0; k < mask.length; k++) {
                if (mask[k] == 0) {
                    assertThat(ids[k]).isZero(); // padding: id 0, and only at the end of its row
                    if ((k + 1) % length != 0) {
                        assertThat(mask[k + 1]).isZero();
                    }
                }
            }
            real += Arrays.stream(mask).sum();
            // ordered by length: the first sample of a batch is its shortest, the last fills the batch's length
            assertThat(mask[mask.length - 1]).isEqualTo(1);
        }
        // [CLS] and [SEP] around 1 to 7 words of one token each
        long expected = 0;
        for (int i = 0; i < 20; i++) {
            expected += 1 + i % 7 + 2;
        }
        assertThat(real).isEqualTo(expected);
    }

    @Test
    void textWithoutTokenizerAndArraysWithOneAreRefused() throws IOException {
        Path model = TinyModels.save(TinyModels.mlp(2), dir.resolve("m.onnx"));
        Path text = Files.writeString(dir.resolve("t.txt"), "hello\n");
        assertThatThrownBy(() -> new CalibrationSpec(text, null, null, 10).load(model))
                .isInstanceOf(GraftException.class).hasMessageContaining("t.txt").hasMessageContaining("tokenizer");
        Path data = npy("d.npy", 3, TinyModels.IN);
        assertThatThrownBy(() -> new CalibrationSpec(data, text, null, 10).load(model))
                .isInstanceOf(GraftException.class).hasMessageContaining("d.npy");
        assertThatThrownBy(() -> new CalibrationSpec(data, null, null, 0)).isInstanceOf(GraftException.class)
                .hasMessageContaining("samples");
    }
}
