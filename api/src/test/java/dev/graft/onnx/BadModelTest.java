package dev.graft.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.GraftException;
import dev.graft.ModelFormatException;
import dev.graft.UnsafeExternalDataException;
import dev.graft.testing.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every bad input the foundation issue lists gives a typed error naming the file, the tensor and the expectation. */
class BadModelTest {
    @TempDir
    Path dir;

    private Path save(ModelProto m) {
        return TinyModels.save(m, dir.resolve("model.onnx"));
    }

    private static ModelProto withW1(ModelProto m, java.util.function.UnaryOperator<TensorProto.Builder> edit) {
        ModelProto.Builder b = m.toBuilder();
        for (TensorProto.Builder t : b.getGraphBuilder().getInitializerBuilderList()) {
            if (t.getName().equals("W1")) {
                edit.apply(t);
            }
        }
        return b.build();
    }

    @Test
    void truncatedFile() throws Exception {
        byte[] bytes = TinyModels.mlp(1).toByteArray();
        Path p = dir.resolve("cut.onnx");
        Files.write(p, Arrays.copyOf(bytes, bytes.length / 2));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("truncated or corrupt");
    }

    @Test
    void fileThatIsNotOnnx() throws Exception {
        Path text = Files.writeString(dir.resolve("notes.onnx"), "this is a text file, not a model\n");
        assertThatThrownBy(() -> OnnxModel.open(text)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining(text.toString());
        Path empty = Files.write(dir.resolve("empty.onnx"), new byte[0]);
        assertThatThrownBy(() -> OnnxModel.open(empty)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("not an ONNX model");
    }

    @Test
    void missingFileIsATypedError() {
        assertThatThrownBy(() -> OnnxModel.open(dir.resolve("nope.onnx"))).isInstanceOf(dev.graft.GraftIoException.class)
                .hasMessageContaining("no such file");
    }

    @Test
    void absoluteExternalLocation() throws Exception {
        Path outside = Files.write(dir.resolve("secret.bin"), new byte[128]);
        Path p = save(ModelFiles.external(TinyModels.mlp(1), "W1", outside.toAbsolutePath().toString(), 0, 128));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(UnsafeExternalDataException.class)
                .hasMessageContaining(p.toString()).hasMessageContaining("'W1'").hasMessageContaining("absolute");
    }

    @Test
    void dotDotExternalLocation() throws Exception {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        Files.write(dir.resolve("secret.bin"), new byte[128]);
        Path p = TinyModels.save(ModelFiles.external(TinyModels.mlp(1), "W1", "../secret.bin", 0, 128),
                sub.resolve("m.onnx"));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(UnsafeExternalDataException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("'..'");
    }

    @Test
    void symbolicLinkLeadingOutOfTheFolder() throws Exception {
        Path sub = Files.createDirectory(dir.resolve("model"));
        Path secret = Files.write(dir.resolve("secret.bin"), new byte[128]);
        Files.createSymbolicLink(sub.resolve("weights.bin"), secret);
        Path p = TinyModels.save(ModelFiles.external(TinyModels.mlp(1), "W1", "weights.bin", 0, 128),
                sub.resolve("m.onnx"));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(UnsafeExternalDataException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("outside the model's folder");
        Path linkedFolder = Files.createSymbolicLink(sub.resolve("elsewhere"), dir);
        Path p2 = TinyModels.save(ModelFiles.external(TinyModels.mlp(1), "W1",
                linkedFolder.getFileName() + "/secret.bin", 0, 128), sub.resolve("m2.onnx"));
        assertThatThrownBy(() -> OnnxModel.open(p2)).isInstanceOf(UnsafeExternalDataException.class);
    }

    @Test
    void offsetPlusLengthBeyondTheDataFile() throws Exception {
        Files.write(dir.resolve("weights.bin"), new byte[130]);
        Path p = save(ModelFiles.external(TinyModels.mlp(1), "W1", "weights.bin", 64, 128));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("beyond the end");
    }

    @Test
    void externalLengthThatDisagreesWithDims() throws Exception {
        Files.write(dir.resolve("weights.bin"), new byte[1000]);
        Path p = save(ModelFiles.external(TinyModels.mlp(1), "W1", "weights.bin", 0, 64));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("expected 128 bytes");
    }

    @Test
    void dimsWhoseProductOverflows() {
        Path p = save(withW1(TinyModels.mlp(1), t -> t.clearDims().addDims(1L << 40).addDims(1L << 40)));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("overflow");
    }

    @Test
    void dimsThatExceedTheBytesPresent() {
        Path p = save(withW1(TinyModels.mlp(1), t -> t.clearDims().addDims(1000).addDims(1000)));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("raw_data holds 128 bytes")
                .hasMessageContaining("need 4000000");
    }

    @Test
    void unknownElementType() {
        Path p = save(withW1(TinyModels.mlp(1), t -> t.setDataType(99)));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("unknown element type 99");
    }

    @Test
    void weightDeclaredTwice() {
        ModelProto m = TinyModels.mlp(1);
        Path p = save(m.toBuilder().setGraph(m.getGraph().toBuilder().addInitializer(m.getGraph().getInitializer(0)))
                .build());
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'W1'").hasMessageContaining("declared twice");
    }

    @Test
    void missingExternalDataFile() {
        Path p = save(ModelFiles.external(TinyModels.mlp(1), "W1", "absent.bin", 0, 128));
        assertThatThrownBy(() -> OnnxModel.open(p)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("'absent.bin' does not exist");
    }

    @Test
    void errorsCarryFileAndTensorForPrograms() {
        Path p = save(withW1(TinyModels.mlp(1), t -> t.setDataType(99)));
        try {
            OnnxModel.open(p).close();
        } catch (GraftException e) {
            assertThat(e.file()).contains(p);
            assertThat(e.tensor()).contains("W1");
            return;
        }
        throw new AssertionError("expected an error");
    }
}
