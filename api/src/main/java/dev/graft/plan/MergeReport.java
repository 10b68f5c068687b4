package dev.graft.plan;

import java.util.List;
import java.util.Map;

/**
 * What a merge did: the files written, the method and its parameters, the inputs with their weights and
 * hashes, how many tensors were merged, which were not (copied from the first model, or ignored) and why, and the time taken.
 */
public record MergeReport(List<String> outputs, String method, Map<String, String> parameters,
                          List<Input> inputs, int merged, List<Unmerged> unmerged, long bytesWritten, double seconds) {
    /** An input model. */
    public record Input(String file, double weight, String sha256) {
    }

    /** A tensor not merged: copied from the first model, or present only in another model and not needed. */
    public record Unmerged(String tensor, String reason) {
    }
}
