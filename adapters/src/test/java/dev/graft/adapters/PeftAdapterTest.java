package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

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

class PeftAdapterTest {
    @TempDir
    Path dir;

    /** An adapter folder written by hand from PEFT's format: config JSON and a safetensors file of F32 factors. */
    private Path adapter(String config, String header, float... data) throws IOException {
        Path folder = Files.createDirectories(dir.resolve("adapter"));
        Files.writeString(folder.resolve(PeftAdapter.CONFIG), config);
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        for (float f : data) {
            b.putFloat(f);
        }
        Files.write(folder.resolve(PeftAdapter.WEIGHTS), b.array());
        return folder;
    }

    private static String factor(String module, String which, int rows, int cols, int from) {
        return "\"base_model.model." + module + ".lora_" + which + ".weight\":{\"dtype\":\"F32\",\"shape\":[" + rows
                + "," + cols + "],\"data_offsets\":[" + from + "," + (from + 4 * rows * cols) + "]}";
    }

    /**
     * A rank-1 adapter on a 2→3 module with alpha 4: ΔW = (4/1)·B·A with A = [1, 2], B = [1, 0, -1]ᵀ, worked out by
     * hand: [[4, 8], [0, 0], [-4, -8]].
     */
    @Test
    void anAdapterWrittenFromTheFormatGivesTheUpdateWorkedOutByHand() throws IOException {
        Path folder = adapter("{\"peft_type\":\"LORA\",\"r\":1,\"lora_alpha\":4,\"target_modules\":[\"query\"],"
                        + "\"task_type\":\"FEATURE_EXTRACTION\"}",
                "{" + factor("encoder.layer.0.attention.self.query", "A", 1, 2, 0) + ","
                        + factor("encoder.layer.0.attention.self.query", "B", 3, 1, 8) + "}",
                1, 2, 1, 0, -1);
        PeftAdapter a = PeftAdapter.read(folder);
        LoraModule m = a.modules().get("encoder.layer.0.attention.self.query");
        assertThat(m.scale()).isEqualTo(4.0);
        assertThat(m.delta()).containsExactly(4, 8, 0, 0, -4, -8);
        assertThat(a.config().other()).containsKey("task_type");
    }

    /**
     * An adapter folder whose weights file is a link out of the folder is refused before it is read; one whose weights
     * link into the blobs of the Hugging Face cache repository the folder is a snapshot of is read.
     */
    @Test
    void weightsLinkedFromOutsideTheFolderAreRefusedUnlessTheyAreTheCachesBlobs() throws IOException {
        Path folder = adapter("{\"r\":1,\"lora_alpha\":4}", "{" + factor("query", "A", 1, 2, 0) + ","
                + factor("query", "B", 3, 1, 8) + "}", 1, 2, 1, 0, -1);
        Path repo = Files.createDirectories(dir.resolve("models--org--adapter"));
        Path blob = Files.move(folder.resolve(PeftAdapter.WEIGHTS),
                Files.createDirectories(repo.resolve("blobs")).resolve("9f2c"));
        Path snapshot = Files.createDirectories(repo.resolve("snapshots/abc123"));
        Files.move(folder.resolve(PeftAdapter.CONFIG), snapshot.resolve(PeftAdapter.CONFIG));
        Files.createSymbolicLink(snapshot.resolve(PeftAdapter.WEIGHTS), Path.of("../../blobs/9f2c"));
        assertThat(PeftAdapter.read(snapshot).modules().get("query").delta()).containsExactly(4, 8, 0, 0, -4, -8);
        Path stranger = Files.createDirectories(dir.resolve("stranger"));
        Files.copy(snapshot.resolve(PeftAdapter.CONFIG), stranger.resolve(PeftAdapter.CONFIG));
        Files.createSymbolicLink(stranger.resolve(PeftAdapter.WEIGHTS), blob);
        assertThatThrownBy(() -> PeftAdapter.read(stranger)).isInstanceOf(dev.graft.UnsafePathException.class)
                .hasMessageContaining(stranger.resolve(PeftAdapter.WEIGHTS).toString())
                .hasMessageContaining("leads outside").hasMessageContaining("through a link");
    }

    @Test
    void rankAndAlphaPatternsAndRsLoraSetEachModulesScale() throws IOException {
        Path folder = adapter("{\"r\":2,\"lora_alpha\":8,\"use_rslora\":true,\"rank_pattern\":{\"value\":1},"
                        + "\"alpha_pattern\":{\"layer.1.value\":2}}",
                "{" + factor("layer.0.value", "A", 1, 2, 0) + "," + factor("layer.0.value", "B", 2, 1, 8) + ","
                        + factor("layer.1.value", "A", 1, 2, 16) + "," + factor("layer.1.value", "B", 2, 1, 24) + ","
                        + factor("layer.1.query", "A", 2, 2, 32) + "," + factor("layer.1.query", "B", 2, 2, 48) + "}",
                new float[16]);
        PeftAdapter a = PeftAdapter.read(folder);
        assertThat(a.modules().get("layer.0.value").scale()).isCloseTo(8 / Math.sqrt(1), within(1e-12));
        assertThat(a.modules().get("layer.1.value").scale()).isCloseTo(2 / Math.sqrt(1), within(1e-12));
        assertThat(a.modules().get("layer.1.query").scale()).isCloseTo(8 / Math.sqrt(2), within(1e-12));
    }

    @Test
    void whatGraftWritesReadsBackIdentically() {
        PeftConfig config = new PeftConfig(2, 16, true, false, Map.of("dense", 1), Map.of("dense", 4.5),
                List.of("query", "dense"), "lora_only", Map.of());
        LoraModule q = new LoraModule("layer.0.query", 2, 3, 2, new float[] {1, 2, 3, 4, 5, 6}, new float[] {7, 8, 9, 10},
                config.scale("layer.0.query"));
        LoraModule d = new LoraModule("layer.0.dense", 1, 2, 2, new float[] {-1, 1}, new float[] {0.5f, 0.25f},
                config.scale("layer.0.dense"));
        PeftAdapter written = new PeftAdapter(config, Map.of(q.name(), q, d.name(), d),
                Map.of("layer.0.query", new float[] {0.1f, 0.2f}));
        written.write(dir);
        PeftAdapter back = PeftAdapter.read(dir);
        assertThat(back.config()).usingRecursiveComparison().isEqualTo(config);
        assertThat(back.modules()).hasSize(2);
        for (LoraModule m : written.modules().values()) {
            assertThat(back.modules().get(m.name())).usingRecursiveComparison().isEqualTo(m);
        }
        assertThat(back.biases().get("layer.0.query")).containsExactly(0.1f, 0.2f);
    }

    @Test
    void badAdaptersAreRefusedNamingTheTensorOrSetting() throws IOException {
        String config = "{\"r\":1,\"lora_alpha\":1}";
        assertThatThrownBy(() -> PeftAdapter.read(adapter(config, "{" + factor("q", "A", 1, 2, 0) + "}", 1, 2)))
                .isInstanceOf(AdapterFormatException.class).hasMessageContaining("q.lora_A.weight")
                .hasMessageContaining("no partner");
        assertThatThrownBy(() -> PeftAdapter.read(adapter(config, "{" + factor("q", "B", 2, 1, 0) + "}", 1, 2)))
                .hasMessageContaining("q.lora_B.weight").hasMessageContaining("no partner");
        assertThatThrownBy(() -> PeftAdapter.read(adapter(config, "{" + factor("q", "A", 1, 2, 0) + ","
                + factor("q", "B", 2, 2, 8) + "}", new float[6])))
                .hasMessageContaining("q.lora_B.weight").hasMessageContaining("rank 2 but A has 1");
        assertThatThrownBy(() -> PeftAdapter.read(adapter("{\"r\":4,\"lora_alpha\":1}", "{" + factor("q", "A", 1, 2, 0)
                + "," + factor("q", "B", 2, 1, 8) + "}", new float[4])))
                .hasMessageContaining("rank 1 but the config says 4");
        assertThatThrownBy(() -> PeftAdapter.read(adapter("{\"r\":1,\"use_dora\":true}", "{}")))
                .hasMessageContaining("use_dora");
        assertThatThrownBy(() -> PeftAdapter.read(adapter("{\"peft_type\":\"IA3\",\"r\":1}", "{}")))
                .hasMessageContaining("IA3 adapter");
        assertThatThrownBy(() -> PeftAdapter.read(adapter(config, "{\"base_model.model.q.lora_magnitude_vector\":"
                + "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1)))
                .hasMessageContaining("DoRA");
        assertThatThrownBy(() -> PeftAdapter.read(adapter(config, "{\"base_model.model.q.weight\":"
                + "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1)))
                .hasMessageContaining("q.weight").hasMessageContaining("not a LoRA factor");
    }
}
