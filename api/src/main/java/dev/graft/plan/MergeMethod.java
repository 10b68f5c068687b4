package dev.graft.plan;

import java.util.Map;

/**
 * A per-tensor merge method: given the same tensor from every model (as float32) and each model's weight,
 * fills {@code out}. Implementations are small, stateless and thread-safe; module {@code graft-merge} has them.
 */
public interface MergeMethod {
    /** The name used in recipes, reports and provenance, e.g. {@code linear}. */
    String name();

    /** The method's parameters with their values, for reports and provenance. */
    Map<String, String> parameters();

    /**
     * Merges one tensor.
     *
     * @param tensor  the tensor's name
     * @param models  its values in each model, all of {@code out.length}
     * @param weights each model's weight
     * @param out     the merged values
     */
    void merge(String tensor, float[][] models, double[] weights, float[] out);
}
