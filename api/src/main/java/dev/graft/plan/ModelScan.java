package dev.graft.plan;

import java.util.function.Consumer;

/**
 * A pass over every merged tensor before the merge, for methods whose per-tensor work depends on the whole
 * model (for example a top-k over all of a model's task-vector entries). Each call reads all inputs again,
 * one tensor at a time, in the model's order; the inputs passed to the visitor are fresh copies.
 */
public interface ModelScan {
    void forEachTensor(Consumer<TensorInputs> visitor);
}
