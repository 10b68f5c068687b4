package dev.graft;

import java.nio.file.Path;

/**
 * A request that cannot be carried out as described, though every file is fine: a parameter the merge method
 * does not read, a required one left unset, a method that needs a base model given none. The message names the
 * setting and what is expected (and the model file, where the setting belongs to one).
 */
public class InvalidSettingException extends GraftException {
    private static final long serialVersionUID = 1L;

    public InvalidSettingException(String problem) {
        super(null, null, problem);
    }

    public InvalidSettingException(String problem, Throwable cause) {
        super(null, null, problem, cause);
    }

    public InvalidSettingException(Path file, String problem) {
        super(file, null, problem);
    }
}
