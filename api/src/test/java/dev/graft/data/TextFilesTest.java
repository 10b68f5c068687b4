package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.GraftException;
import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextFilesTest {
    @TempDir
    Path dir;

    @Test
    void aLatin1FileIsRefusedNamingTheFileAndTheLine() throws IOException {
        Path file = Files.write(dir.resolve("latin1.txt"),
                "first line\nsecond line\ncaf\u00e9 au lait\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> TextFiles.lines(file)).isInstanceOf(GraftException.class)
                .hasMessageContaining(file.toString()).hasMessageContaining("line 3 is not valid UTF-8")
                .hasMessageContaining("0xE9");
        // calibration text is read the same way, before any tokenizer is loaded
        assertThatThrownBy(() -> Calibration.text(file, dir.resolve("no-tokenizer.json"), 10, 16))
                .isInstanceOf(GraftException.class).hasMessageContaining("line 3 is not valid UTF-8");
    }

    @Test
    void utf8WithByteOrderMarkAndAnyLineEnds() throws IOException {
        Path file = Files.write(dir.resolve("ok.txt"),
                "\uFEFFcaf\u00e9\r\nna\u00efve\rlast".getBytes(StandardCharsets.UTF_8));
        assertThat(TextFiles.lines(file)).containsExactly("caf\u00e9", "na\u00efve", "last");
    }

    @Test
    void aMissingFileIsAnIoError() {
        assertThatThrownBy(() -> TextFiles.read(dir.resolve("absent.txt"))).isInstanceOf(GraftIoException.class)
                .hasMessageContaining("absent.txt").hasMessageContaining("no such file");
    }
}
