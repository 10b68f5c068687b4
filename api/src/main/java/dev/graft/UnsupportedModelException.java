package dev.graft;

import java.nio.file.Path;

/**
 * A well-formed model that uses something Graft cannot transform correctly yet (quantized weights in a merge, for
 * example): refused before anything is written, never approximated.
 */
public class UnsupportedModelException extends GraftException {
    private static final long serialVersionUID = 1L;

    public UnsupportedModelException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }
}
