package dev.graft.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.UnsafeExternalDataException;
import dev.graft.UnsafePathException;
import dev.graft.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Files that come with an input are read from inside its folder only: absolute names, {@code ..} and links out are
 * refused, and links into the blobs of the Hugging Face cache repository the folder is a snapshot of count as inside
 * (external data in the cache opens; the same blob linked from a folder elsewhere does not). Companion files that lead
 * out are not copied beside a written model, and a warning says so.
 */
class InsideFolderTest {
    @TempDir
    Path dir;

    @Test
    void namesThatLeaveTheFolderAreRefused() throws IOException {
        Path folder = Files.createDirectories(dir.resolve("model"));
        Path namedBy = folder.resolve("index.json");
        Files.writeString(folder.resolve("a.bin"), "a");
        Files.writeString(dir.resolve("secret"), "s");
        Files.createSymbolicLink(folder.resolve("link.bin"), dir.resolve("secret"));
        assertThat(InsideFolder.resolve(folder, "a.bin", namedBy)).isEqualTo(folder.resolve("a.bin").toRealPath());
        assertThat(InsideFolder.resolve(folder, "missing.bin", namedBy)).isNull();
        assertThatThrownBy(() -> InsideFolder.resolve(folder, dir.resolve("secret").toString(), namedBy))
                .isInstanceOf(UnsafePathException.class).hasMessageContaining(namedBy.toString())
                .hasMessageContaining("which is absolute");
        assertThatThrownBy(() -> InsideFolder.resolve(folder, "sub/../../secret", namedBy))
                .isInstanceOf(UnsafePathException.class).hasMessageContaining("which contains '..'");
        assertThatThrownBy(() -> InsideFolder.resolve(folder, "link.bin", namedBy))
                .isInstanceOf(UnsafePathException.class).hasMessageContaining("through a link (to "
                        + dir.resolve("secret").toRealPath() + ")");
    }

    /** A model in a Hugging Face cache snapshot whose external data is a link to the repository's blob. */
    @Test
    void externalDataInAHuggingFaceCacheSnapshotOpensAndTheSameBlobFromElsewhereDoesNot() throws IOException {
        Path repo = dir.resolve("hub/models--org--mlp");
        Path snapshot = Files.createDirectories(repo.resolve("snapshots/0123abcd"));
        Path blobs = Files.createDirectories(repo.resolve("blobs"));
        Path written = TinyModels.save(TinyModels.mlp(3), dir.resolve("plain.onnx"));
        Path model = snapshot.resolve("model.onnx");
        try (OnnxModel m = OnnxModel.open(written)) {
            List<OutputTensor> tensors = new ArrayList<>();
            m.initializers().forEach(w -> tensors.add(OutputTensor.copyOf(w)));
            OnnxWriter.write(m.proto(), tensors, model, WriteOptions.defaults()
                    .withLayout(WriteOptions.Layout.EXTERNAL).withInlineBelow(0));
        }
        Files.move(snapshot.resolve("model.onnx.data"), blobs.resolve("5e1f"));
        Files.createSymbolicLink(snapshot.resolve("model.onnx.data"), Path.of("../../blobs/5e1f"));
        try (OnnxModel cached = OnnxModel.open(model); OnnxModel plain = OnnxModel.open(written)) {
            assertThat(cached.weight("W1").orElseThrow().toFloats())
                    .containsExactly(plain.weight("W1").orElseThrow().toFloats());
        }
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        Files.copy(model, elsewhere.resolve("model.onnx"));
        Files.createSymbolicLink(elsewhere.resolve("model.onnx.data"), blobs.resolve("5e1f"));
        assertThatThrownBy(() -> OnnxModel.open(elsewhere.resolve("model.onnx")))
                .isInstanceOf(UnsafeExternalDataException.class).hasMessageContaining("through a link");
    }

    @Test
    void companionsThatLeadOutAreNotCopiedAndAWarningSaysSo() throws IOException {
        Path from = Files.createDirectories(dir.resolve("from"));
        Path to = Files.createDirectories(dir.resolve("to"));
        Files.writeString(from.resolve("vocab.txt"), "[PAD]\n");
        Files.writeString(dir.resolve("id_rsa"), "a private key");
        Files.createSymbolicLink(from.resolve("tokenizer.json"), dir.resolve("id_rsa"));
        List<String> warnings = new ArrayList<>();
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("dev.graft");
        java.util.logging.Handler h = new java.util.logging.Handler() {
            @Override
            public void publish(java.util.logging.LogRecord r) {
                warnings.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        log.addHandler(h);
        log.setUseParentHandlers(false); // the warning is the test's to read, not the build log's
        try {
            assertThat(CompanionFiles.copy(from.resolve("m.onnx"), to.resolve("m.onnx")))
                    .containsExactly(to.resolve("vocab.txt"));
        } finally {
            log.removeHandler(h);
            log.setUseParentHandlers(true);
        }
        assertThat(to.resolve("tokenizer.json")).doesNotExist();
        assertThat(warnings).singleElement().asString().contains("not copied beside m.onnx", "tokenizer.json",
                "through a link");
    }
}
