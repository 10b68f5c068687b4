package dev.graft;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A file that could not be read or written for a reason outside its contents: missing, not permitted, a full
 * disk, a folder where a file was expected. The message names the file and carries the operating system's
 * reason; the {@link IOException} is the cause. Files that are read but malformed are
 * {@link ModelFormatException}s (or another subtype) instead.
 */
public class GraftIoException extends GraftException {
    private static final long serialVersionUID = 1L;

    /** {@code file} could not be {@code doing} ("read", "written", ...) because of {@code cause}. */
    public GraftIoException(Path file, String doing, IOException cause) {
        super(file, null, "cannot be " + doing + ": " + reason(cause), cause);
    }

    private static String reason(IOException e) {
        String type = e.getClass().getSimpleName();
        return switch (type) {
            case "NoSuchFileException" -> "no such file or folder" + other(e);
            case "AccessDeniedException" -> "permission denied" + other(e);
            case "FileAlreadyExistsException" -> "a file of that name is in the way" + other(e);
            case "NotDirectoryException" -> "a file is where a folder is expected" + other(e);
            default -> e.getMessage() == null ? type : e.getMessage();
        };
    }

    /** The file the OS names, when it is not the one the message starts with. */
    private static String other(IOException e) {
        return e instanceof java.nio.file.FileSystemException f && f.getFile() != null ? " (" + f.getFile() + ")" : "";
    }
}
