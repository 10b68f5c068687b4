package dev.graft;

import java.nio.file.Path;

/**
 * A file that is not a well-formed ONNX model, or one whose contents contradict themselves: truncated or
 * corrupt protobuf, unknown element type, dims whose product overflows or exceeds the bytes present, external
 * data ranges beyond the data file.
 */
public class ModelFormatException extends GraftException {
    private static final long serialVersionUID = 1L;

    public ModelFormatException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }

    public ModelFormatException(Path file, String tensor, String problem, Throwable cause) {
        super(file, tensor, problem, cause);
    }
}
