package dev.graft.exec;

/**
 * Told after each output tensor is written. Tensors are written in any order, from several threads; calls
 * come one at a time, with {@code done} counting up.
 */
@FunctionalInterface
public interface ProgressListener {
    ProgressListener NONE = (name, done, total) -> { };

    void written(String tensor, int done, int total);
}
