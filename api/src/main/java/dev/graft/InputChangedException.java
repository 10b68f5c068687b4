package dev.graft;

import java.nio.file.Path;

/**
 * An input file that changed while Graft was reading it: truncated, rewritten or replaced by another process after it
 * was opened. Graft reads weights from memory-mapped files, so what it read may be a mixture of old and new contents;
 * it stops, writes nothing, and names the file and what changed (its size, modification time or identity).
 */
public class InputChangedException extends GraftException {
    private static final long serialVersionUID = 1L;

    public InputChangedException(Path file, String change, Throwable cause) {
        super(file, null, "changed while Graft was reading it (" + change + "); nothing was written: run again once "
                + "the file is complete and left alone", cause);
    }
}
