package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime adapter files read back what was written, and a damaged file (cut short anywhere, or with bytes
 * changed anywhere) is read or refused as an {@link AdapterFormatException} naming it, never anything else.
 */
class OnnxAdapterFileTest {
    @TempDir
    Path dir;

    private Path written() {
        SplittableRandom r = new SplittableRandom(3);
        float[] a = new float[6 * 2];
        float[] b = new float[2 * 5];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        Path file = dir.resolve("x.onnx_adapter");
        OnnxAdapterFile.write(file, 1, List.of(new OnnxAdapterFile.Parameter("m.lora_A.weight", new long[] {6, 2}, a),
                new OnnxAdapterFile.Parameter("m.lora_B.weight", new long[] {2, 5}, b)));
        return file;
    }

    @Test
    void whatIsWrittenReadsBack() {
        Path file = written();
        List<OnnxAdapterFile.Parameter> back = OnnxAdapterFile.read(file);
        assertThat(back).extracting(OnnxAdapterFile.Parameter::name).containsExactly("m.lora_A.weight", "m.lora_B.weight");
        assertThat(back.get(0).dims()).containsExactly(6, 2);
        assertThat(back.get(1).dims()).containsExactly(2, 5);
        PeftAdapter adapter = PeftAdapter.read(file);
        LoraModule m = adapter.modules().get("m");
        assertThat(m.rank()).isEqualTo(2);
        assertThat(m.scale()).isEqualTo(1.0);
        assertThat(adapter.config().scale("m")).isEqualTo(1.0);
        // A is Aᵀ transposed back: A[k, i] = file's [i, k]
        assertThat(m.a()[1 * 6 + 4]).isEqualTo(back.get(0).values()[4 * 2 + 1]);
        assertThat(m.b()[3 * 2 + 1]).isEqualTo(back.get(1).values()[1 * 5 + 3]);
    }

    @Test
    void aDamagedFileIsReadOrRefusedNamingIt() throws Exception {
        byte[] bytes = Files.readAllBytes(written());
        Path bad = dir.resolve("bad.onnx_adapter");
        List<OnnxAdapterFile.Parameter> whole = OnnxAdapterFile.read(written());
        int refused = 0;
        for (int cut = 0; cut < bytes.length; cut++) {
            Files.write(bad, Arrays.copyOf(bytes, cut));
            try {
                // a cut that only drops the builder's trailing alignment padding leaves the same adapter
                List<OnnxAdapterFile.Parameter> read = OnnxAdapterFile.read(bad);
                assertThat(read).as("cut at " + cut).hasSameSizeAs(whole);
                for (int p = 0; p < read.size(); p++) {
                    assertThat(read.get(p).values()).as("cut at " + cut).containsExactly(whole.get(p).values());
                }
            } catch (AdapterFormatException e) {
                assertThat(e).hasMessageContaining(bad.toString());
                refused++;
            }
        }
        assertThat(refused).isGreaterThan(bytes.length - 8);
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 2000; trial++) {
            byte[] changed = bytes.clone();
            for (int k = 0; k < 1 + r.nextInt(3); k++) {
                changed[r.nextInt(changed.length)] = (byte) r.nextInt(256);
            }
            Files.write(bad, changed);
            try {
                OnnxAdapterFile.read(bad);
            } catch (AdapterFormatException e) {
                assertThat(e).hasMessageContaining(bad.toString());
            }
        }
        Files.writeString(bad, "not an adapter at all");
        assertThatThrownBy(() -> OnnxAdapterFile.read(bad)).isInstanceOf(AdapterFormatException.class)
                .hasMessageContaining("no 'TORT' identifier");
    }

    @Test
    void anAdapterFileWithoutPartnersOrWithEmptyFactorsIsRefused() {
        Path lonely = dir.resolve("lonely.onnx_adapter");
        OnnxAdapterFile.write(lonely, 1, List.of(new OnnxAdapterFile.Parameter("m.lora_A", new long[] {3, 1},
                new float[3])));
        assertThatThrownBy(() -> PeftAdapter.read(lonely)).isInstanceOf(AdapterFormatException.class)
                .hasMessageContaining("has no partner lora_B for module 'm'");
        Path empty = dir.resolve("empty.onnx_adapter");
        OnnxAdapterFile.write(empty, 1, List.of(new OnnxAdapterFile.Parameter("m.lora_A.weight", new long[] {3, 0},
                new float[0]), new OnnxAdapterFile.Parameter("m.lora_B.weight", new long[] {0, 4}, new float[0])));
        assertThatThrownBy(() -> PeftAdapter.read(empty)).isInstanceOf(AdapterFormatException.class)
                .hasMessageContaining("an empty default, not an adapter");
    }
}
