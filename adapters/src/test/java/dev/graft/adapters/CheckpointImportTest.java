package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.IncompatibleModelsException;
import dev.graft.UnsupportedModelException;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hugging Face checkpoints (written by make_decoders.py as save_pretrained does: PyTorch names, {@code [out, in]},
 * the tied head left out) onto the TorchScript exports of their architecture, whose weights are anonymous.
 */
class CheckpointImportTest {
    @TempDir
    Path dir;

    @Test
    void aCheckpointOntoTheBasesExportIsTheFineTunesModel() {
        Path out = dir.resolve("licence.onnx");
        CheckpointImport.Report r = CheckpointImport.onto(Decoders.model("optimum/base/model.onnx"))
                .from(Decoders.DIR.resolve("checkpoints/licence")).writeTo(out);
        assertThat(r.mapped()).hasSize(21);
        assertThat(r.mapped()).filteredOn(CheckpointImport.Mapped::transposed).hasSize(15); // 14 Linear + the head
        assertThat(r.kept()).isEmpty();
        assertThat(r.unused()).isEmpty();
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.torchLogits("licence")))).isLessThan(1e-4);
    }

    @Test
    void aShardedCheckpointOntoAnotherExportOfTheArchitecture() {
        Path out = dir.resolve("c.onnx");
        CheckpointImport.onto(Decoders.model("untied/model.onnx")).from(
                Decoders.DIR.resolve("checkpoints/c_sharded/model.safetensors.index.json")).writeTo(out);
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.torchLogits("c")))).isLessThan(1e-4);
    }

    @Test
    void badCheckpointsAndTemplatesAreRefusedBeforeAnythingIsWritten() throws IOException {
        Path out = dir.resolve("out.onnx");
        assertThatThrownBy(() -> CheckpointImport.onto(Path.of("../examples/recipes/independent/mlp_seed1.onnx"))
                .from(Decoders.DIR.resolve("checkpoints/licence")).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("has no parameter that fits");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("int4/base/model.onnx"))
                .from(Decoders.DIR.resolve("checkpoints/licence")).writeTo(out))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("import the checkpoint onto the float");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("genai/base/model.onnx"))
                .from(Decoders.DIR.resolve("checkpoints/licence")).writeTo(out))
                .isInstanceOf(UnsupportedModelException.class).hasMessageContaining("qkv_proj")
                .hasMessageContaining("packed projections");
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"missing.safetensors\"}}");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("optimum/base/model.onnx")).from(index)
                .writeTo(out)).hasMessageContaining("missing.safetensors");
        Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"../elsewhere.safetensors\"}}");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("optimum/base/model.onnx")).from(index)
                .writeTo(out)).isInstanceOf(dev.graft.UnsafePathException.class).hasMessageContaining("contains '..'");
        Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"shard\\u0000.safetensors\"}}");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("optimum/base/model.onnx")).from(index)
                .writeTo(out)).isInstanceOf(dev.graft.UnsafePathException.class).hasMessageContaining("NUL");
        Files.createSymbolicLink(dir.resolve("linked.safetensors"), Decoders.DIR.resolve("checkpoints/licence")
                .resolve("model.safetensors").toAbsolutePath());
        Files.writeString(index, "{\"weight_map\": {\"model.norm.weight\": \"linked.safetensors\"}}");
        assertThatThrownBy(() -> CheckpointImport.onto(Decoders.model("optimum/base/model.onnx")).from(index)
                .writeTo(out)).isInstanceOf(dev.graft.UnsafePathException.class)
                .hasMessageContaining("'linked.safetensors' leads outside");
        Files.delete(dir.resolve("linked.safetensors"));
        assertThat(Files.exists(out)).isFalse();
    }
}
