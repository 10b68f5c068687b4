package dev.graft.merge;

/**
 * Task arithmetic (Ilharco et al., <i>Editing Models with Task Arithmetic</i>, ICLR 2023):
 * {@code θ = θ₀ + λ·Σᵢ wᵢ(θᵢ − θ₀)}, divided by {@code Σ wᵢ} if {@code normalize} (default off).
 * Parameters: {@code weight} (per model, required), {@code density} (1.0, no effect), {@code lambda} (1.0).
 * See {@link TaskVectorMerge} for the pipeline.
 */
public final class TaskArithmetic extends TaskVectorMerge {
    /** With the {@link Convention#MERGEKIT} convention. */
    public TaskArithmetic() {
        this(Convention.MERGEKIT);
    }

    public TaskArithmetic(Convention convention) {
        super("task_arithmetic", null, false, false, false, convention);
    }
}
