package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the text files users hand Graft (calibration text, evaluation pairs, recipes) as strict UTF-8: a byte
 * sequence that is not UTF-8 is an error naming the file, the line and the byte offset, never a silently
 * replaced character (a Latin-1 file would otherwise calibrate on mangled words). A leading byte-order mark is
 * skipped. Lines end at {@code \n}, {@code \r\n} or {@code \r}.
 */
public final class TextFiles {
    private TextFiles() {
    }

    /** The whole file as a string. */
    public static String read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new GraftIoException(file, "read", e);
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            String text = decoder.decode(ByteBuffer.wrap(bytes)).toString();
            return text.startsWith("\uFEFF") ? text.substring(1) : text;
        } catch (CharacterCodingException e) {
            throw notUtf8(file, bytes, firstBadByte(bytes));
        }
    }

    /** The file's lines. */
    public static List<String> lines(Path file) {
        return read(file).lines().collect(java.util.stream.Collectors.toCollection(ArrayList::new));
    }

    /** Where the first malformed sequence starts. */
    private static int firstBadByte(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1);
        decoder.decode(in, out, true);
        return in.position();
    }

    private static GraftException notUtf8(Path file, byte[] bytes, int offset) {
        int line = 1;
        for (int i = 0; i < offset; i++) {
            if (bytes[i] == '\n') {
                line++;
            }
        }
        return new GraftException(file, null, String.format("line %d is not valid UTF-8 (byte 0x%02X at offset %d); "
                + "save the file as UTF-8 (for example: iconv -f latin1 -t utf-8)", line, bytes[offset] & 0xFF, offset));
    }
}
