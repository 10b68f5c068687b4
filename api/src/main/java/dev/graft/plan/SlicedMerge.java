package dev.graft.plan;

/**
 * One tensor's merge carried out a slice at a time, for tensors whose inputs do not fit the memory budget (the
 * embedding table of a decoder LLM: 152k × 1536 entries, 0.9 GB per model in float32). The tensor is read from the
 * files in consecutive slices, as many times as the method asks: first whole passes that only gather what the
 * method decides over the whole tensor (magnitude histograms for a trim), then one pass that produces the merged
 * values. The result equals {@link MergeMethod#merge} on the whole tensor, value for value, whatever the slice
 * size: what a method decides from the whole tensor it must decide from the passes.
 *
 * <p>Slices arrive in index order within each pass. The arrays a slice is handed in are the caller's, valid for
 * that call only; the method may overwrite the model arrays (not the base).
 */
public interface SlicedMerge {
    /** Whether one more statistics pass is needed, given the number {@code done} so far (the first call has 0). */
    boolean needsPass(int done);

    /** Statistics pass {@code pass}: entries {@code [first, first + length)} of the base (or null) and each model. */
    void observe(int pass, float[] base, float[][] models, int first, int length);

    /**
     * The merged values of entries {@code [first, first + length)} into {@code out[0, length)}; called once per
     * slice in index order, after the last statistics pass.
     */
    void merge(float[] base, float[][] models, int first, int length, float[] out);

    /** Called after the last slice is merged (for diagnostics gathered along the way). */
    default void finish() {
    }
}
