package dev.graft.adapters;

import dev.graft.GraftException;
import java.nio.file.Path;

/**
 * An adapter file that is not well formed or contradicts itself: a safetensors header longer than the file, JSON
 * that is not a header, an unsupported dtype, data offsets outside the data, overlapping or leaving holes, a
 * tensor whose size does not match its shape.
 */
public class AdapterFormatException extends GraftException {
    private static final long serialVersionUID = 1L;

    public AdapterFormatException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }

    public AdapterFormatException(Path file, String tensor, String problem, Throwable cause) {
        super(file, tensor, problem, cause);
    }
}
