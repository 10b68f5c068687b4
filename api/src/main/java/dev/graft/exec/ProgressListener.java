package dev.graft.exec;

/** Told after each output tensor is written. Called from the writing thread, in output order. */
@FunctionalInterface
public interface ProgressListener {
    ProgressListener NONE = (name, done, total) -> { };

    void written(String tensor, int done, int total);
}
