package dev.graft;

import java.nio.file.Path;

/** ONNX Runtime could not load or run a model, or two models' outputs cannot be compared. */
public class VerificationException extends GraftException {
    private static final long serialVersionUID = 1L;

    public VerificationException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }

    public VerificationException(Path file, String tensor, String problem, Throwable cause) {
        super(file, tensor, problem, cause);
    }
}
