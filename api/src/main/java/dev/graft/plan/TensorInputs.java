package dev.graft.plan;

import java.util.SplittableRandom;

/**
 * Everything a merge method sees of one tensor: its name and shape, the base model's values (if the merge has
 * a base), each model's values, the parameters resolved for this tensor, a reproducible random stream per
 * model, and where to record diagnostics. The base array is read-only; the model arrays belong to this one
 * call, so a method may overwrite them (for example with task vectors) instead of allocating.
 *
 * <p>Values may be read from the files as the method asks for them: {@link #base()} and {@link #models()}
 * read everything, while {@link #readTo} reads only up to a point, so that a method working block by block
 * uses each block while it is still in cache.
 */
public final class TensorInputs implements AutoCloseable {
    /** Reads values into the arrays, in order. */
    public interface Loader extends AutoCloseable {
        /** Reads entries {@code [from, to)} of the base (if any) and of every model into their arrays. */
        void load(int from, int to);

        @Override
        void close();
    }

    /** The arrays values are read into; entries are valid up to the last {@link #readTo}. */
    public record Values(float[] base, float[][] models) {
    }

    private final String tensor;
    private final long[] shape;
    private final boolean inOutLayout;
    private final float[] base;
    private final float[][] models;
    private final ResolvedParameters parameters;
    private final long seed;
    private final TensorDiagnostics.Recorder diagnostics;
    private final Object prepared;
    private final Loader loader;
    private final int size;
    private final int modelCount;
    private int loaded;

    public TensorInputs(String tensor, long[] shape, boolean inOutLayout, float[] base, float[][] models,
                        ResolvedParameters parameters, long seed, TensorDiagnostics.Recorder diagnostics) {
        this(tensor, shape, inOutLayout, base, models, null, parameters, seed, diagnostics, null);
    }

    /**
     * As above, with arrays that {@code loader} fills as values are asked for (null: they are filled already),
     * and the method's model-wide preparation ({@link MergeMethod#prepare}, or null).
     */
    public TensorInputs(String tensor, long[] shape, boolean inOutLayout, float[] base, float[][] models,
                        Loader loader, ResolvedParameters parameters, long seed,
                        TensorDiagnostics.Recorder diagnostics, Object prepared) {
        this.loader = loader;
        this.size = models[0].length;
        this.modelCount = models.length;
        this.loaded = loader == null ? size : 0;
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

    private TensorInputs(String tensor, long[] shape, boolean inOutLayout, int size, int modelCount,
                         ResolvedParameters parameters, long seed, TensorDiagnostics.Recorder diagnostics,
                         Object prepared) {
        this.modelCount = modelCount;
        this.tensor = tensor;
        this.shape = shape.clone();
        this.inOutLayout = inOutLayout;
        this.size = size;
        this.base = null;
        this.models = null;
        this.loader = null;
        this.parameters = parameters;
        this.seed = seed;
        this.diagnostics = diagnostics;
        this.prepared = prepared;
    }

    /**
     * Inputs of {@code size} entries of {@code modelCount} models that hold no values, for a merge in slices
     * ({@link MergeMethod#sliced}); everything else as above.
     */
    public static TensorInputs sliced(String tensor, long[] shape, boolean inOutLayout, int size, int modelCount,
                                      ResolvedParameters parameters, long seed, TensorDiagnostics.Recorder diagnostics,
                                      Object prepared) {
        return new TensorInputs(tensor, shape, inOutLayout, size, modelCount, parameters, seed, diagnostics,
                prepared);
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
        return size;
    }

    /** The base model's values (all read), or null when the merge has no base. */
    public float[] base() {
        readTo(size());
        return base;
    }

    /** Each model's values (all read). */
    public float[][] models() {
        readTo(size());
        return models;
    }

    /**
     * Reads the base's and every model's values up to entry {@code to} (not beyond), and returns the arrays
     * they are read into; reading only moves forward.
     */
    public Values readTo(int to) {
        if (models == null) {
            throw new IllegalStateException("tensor '" + tensor + "' is merged in slices: its values are not held");
        }
        if (to > loaded) {
            loader.load(loaded, to);
            loaded = to;
        }
        return new Values(base, models);
    }

    /** Releases what reading holds (file mappings). */
    @Override
    public void close() {
        if (loader != null) {
            loader.close();
        }
    }

    public int modelCount() {
        return modelCount;
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
