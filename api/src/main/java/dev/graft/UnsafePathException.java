package dev.graft;

import java.nio.file.Path;

/**
 * A file that a model, adapter or checkpoint names (or that Graft looks for beside one) which would be read from
 * outside that input's folder: an absolute path, a {@code ..} component, or a symbolic link that leads out (a link into
 * the blobs of the Hugging Face cache repository the folder is a snapshot of is inside). Refused before anything is
 * read from it; paths the user names directly (on the command line, in a recipe) are the user's to choose.
 */
public class UnsafePathException extends GraftException {
    private static final long serialVersionUID = 1L;

    public UnsafePathException(Path file, String tensor, String problem) {
        super(file, tensor, problem);
    }
}
