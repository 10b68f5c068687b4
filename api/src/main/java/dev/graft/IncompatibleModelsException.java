package dev.graft;

import java.nio.file.Path;

/** Models that cannot be combined as asked: weights that differ in name, shape or element type. */
public class IncompatibleModelsException extends GraftException {
    private static final long serialVersionUID = 1L;

    public IncompatibleModelsException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }
}
