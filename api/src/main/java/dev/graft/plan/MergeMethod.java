package dev.graft.plan;

import java.util.List;

/**
 * A per-tensor merge method: fills {@code out} from one tensor's values in the base (if any) and each model,
 * with parameters resolved for that tensor. Implementations are small, stateless and thread-safe; module
 * {@code graft-merge} has them and a registry by name.
 */
public interface MergeMethod {
    /** The name used in recipes, reports and provenance, e.g. {@code ties}. */
    String name();

    /** True if the method needs a base model (task-vector methods, SLERP's first endpoint, ...). */
    boolean needsBase();

    /** The parameters the method reads, with defaults: recipes naming others are refused. */
    List<ParameterSpec> parameters();

    /** Merges one tensor into {@code out} (of {@code in.size()} values). */
    void merge(TensorInputs in, float[] out);

    /**
     * Bytes {@link #merge} allocates for one tensor of {@code elements} values beyond its inputs and output
     * (which the caller counts), so that the memory budget holds; 0 for methods that work in place or in
     * fixed-size blocks.
     */
    default long scratchBytes(long elements, int models) {
        return 0;
    }

    /**
     * True if {@link #merge} computes task vectors and adds them to {@code in.diagnostics().taskVectors()}
     * (when not null) before changing them, saving the caller its own pass over the inputs.
     */
    default boolean recordsTaskVectors() {
        return false;
    }

    /**
     * Optional model-wide preparation, run once before any tensor is merged when {@code needed} says so; its
     * result reaches every tensor as {@link TensorInputs#prepared()}.
     */
    default Object prepare(ModelScan scan, ResolvedParameters modelWide) {
        return null;
    }

    /**
     * The merge of one tensor in slices ({@link SlicedMerge}), or null when this method (with these parameters)
     * needs the whole tensor at once. Called with inputs that hold no values ({@link TensorInputs#sliced}): the
     * tensor's name, shape, parameters, random seed and diagnostics. The default is null: tensors larger than
     * the memory budget are then merged whole, beyond it.
     */
    default SlicedMerge sliced(TensorInputs in) {
        return null;
    }

    /** Whether {@link #prepare} must run, given the global parameters (resolved for the whole model). */
    default boolean needsPreparation(ResolvedParameters modelWide) {
        return false;
    }
}
