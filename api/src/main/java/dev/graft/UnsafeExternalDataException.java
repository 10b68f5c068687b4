package dev.graft;

import java.nio.file.Path;

/**
 * An external-data {@code location} that would read outside the model's folder: absolute, containing
 * {@code ..}, or leading out through a symbolic link. Graft refuses such a model before reading anything
 * from that location.
 */
public class UnsafeExternalDataException extends UnsafePathException {
    private static final long serialVersionUID = 1L;

    public UnsafeExternalDataException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }
}
