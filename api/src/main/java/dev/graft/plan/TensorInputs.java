package dev.graft.plan;

import java.util.SplittableRandom;

/**
 * Everything a merge method sees of one tensor: its name and shape, the base model's values (if the merge has
 * a base), each model's values, the parameters resolved for this tensor, a reproducible random stream per
 * model, and where to record diagnostics. The base array is read-only; the model arrays belong to this one
 * call, so a method may overwrite them (for example with task vectors) instead of allocating.
 */
public final class TensorInputs {
    private final String tensor;
    private final long[] shape;
    private final boolean inOutLayout;
    private final float[] base;
    private final float[][] models;
    private final ResolvedParameters parameters;
    private final long seed;
    private final TensorDiagnostics.Recorder diagnostics;
    private final Object prepared;

    public TensorInputs(String tensor, long[] shape, boolean inOutLayout, float[] base, float[][] models,
                        ResolvedParameters parameters, long seed, TensorDiagnostics.Recorder diagnostics) {
        this(tensor, shape, inOutLayout, base, models, parameters, seed, diagnostics, null);
    }

    /** As above, with the method's model-wide preparation ({@link MergeMethod#prepare}, or null). */
    public TensorInputs(String tensor, long[] shape, boolean inOutLayout, float[] base, float[][] models,
                        ResolvedParameters parameters, long seed, TensorDiagnostics.Recorder diagnostics,
                        Object prepared) {
        this.prepared = prepared;
        this.tensor = tensor;
        this.shape = shape.clone();
        this.inOutLayout = inOutLayout;
        this.base = base;
        this.models = models;
        this.parameters = parameters;
        this.seed = seed;
        this.diagnostics = diagnostics;
    }

    public String tensor() {
        return tensor;
    }

    public long[] shape() {
        return shape.clone();
    }

    /**
     * True when the tensor is a MatMul weight stored {@code [in, out]} (the transpose of PyTorch's
     * {@code [out, in]}); methods that work per output unit use it to find PyTorch's rows.
     */
    public boolean inOutLayout() {
        return inOutLayout;
    }

    /** Number of values. */
    public int size() {
        return models[0].length;
    }

    /** The base model's values, or null when the merge has no base. */
    public float[] base() {
        return base;
    }

    public float[][] models() {
        return models;
    }

    public int modelCount() {
        return models.length;
    }

    /** A parameter of model {@code i} (falls back to the global value, then the default). */
    public double model(int i, String name) {
        return parameters.model(i, name);
    }

    /** A global parameter. */
    public double global(String name) {
        return parameters.global(name);
    }

    /** A global boolean parameter (non-zero is true). */
    public boolean flag(String name) {
        return parameters.global(name) != 0;
    }

    /**
     * A random stream for model {@code i} on this tensor, derived from (seed, model index, tensor name) only,
     * so results do not depend on execution order or thread count.
     */
    public SplittableRandom random(int i) {
        return new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (i + 1)));
    }

    /** What the method's {@link MergeMethod#prepare} returned for the whole model, or null. */
    public Object prepared() {
        return prepared;
    }

    public TensorDiagnostics.Recorder diagnostics() {
        return diagnostics;
    }
}
