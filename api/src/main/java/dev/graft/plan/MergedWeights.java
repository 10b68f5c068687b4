package dev.graft.plan;

import java.nio.file.Path;
import java.util.Map;

/**
 * A merge computed in memory rather than written: the merged tensors' float32 values by name, and the model file
 * whose graph and other tensors they go with (the merge's base, or its first model). Running {@code template}
 * with these values in place of its own is running the merged model (an evaluation candidate, without a file).
 *
 * @param template the model file the merged values replace tensors of
 * @param weights  each merged tensor's values, row-major, by initializer name
 */
public record MergedWeights(Path template, Map<String, float[]> weights) {
}
