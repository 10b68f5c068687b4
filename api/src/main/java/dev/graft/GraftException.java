package dev.graft;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Base of every failure a user can cause in Graft: a bad file, a missing or mismatched tensor, a bad recipe.
 * The message always names the file and, where one is involved, the tensor, and says what was expected;
 * {@link #file()} and {@link #tensor()} give the same facts to programs.
 */
public class GraftException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient Path file;
    private final String tensor;

    public GraftException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    public GraftException(Path file, String tensor, String problem, Throwable cause) {
        super(describe(file, tensor, problem), cause);
        this.file = file;
        this.tensor = tensor;
    }

    private static String describe(Path file, String tensor, String problem) {
        StringBuilder sb = new StringBuilder();
        if (file != null) {
            sb.append(file).append(": ");
        }
        if (tensor != null) {
            sb.append("tensor '").append(tensor).append("': ");
        }
        return sb.append(problem).toString();
    }

    /** The file the problem is in, if one is involved. */
    public Optional<Path> file() {
        return Optional.ofNullable(file);
    }

    /** The tensor the problem is about, if one is involved. */
    public Optional<String> tensor() {
        return Optional.ofNullable(tensor);
    }
}
