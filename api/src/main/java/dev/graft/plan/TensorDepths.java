package dev.graft.plan;

import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Depth {@code t ∈ [0,1]} of each tensor for gradient settings: {@code layer / (layers − 1)} for tensors of
 * numbered layers; tensors outside layers get 0 if they come before the first layered tensor in the model's
 * order and 1 if after the last (embeddings and heads, as mergekit's pre- and post-weights).
 */
final class TensorDepths {
    private final GraphIndex index;
    private final Map<String, Double> t = new LinkedHashMap<>();

    TensorDepths(GraphIndex index) {
        this.index = index;
        int maxLayer = -1;
        for (IndexedWeight w : index.weights()) {
            if (w.layer().isPresent()) {
                maxLayer = Math.max(maxLayer, w.layer().getAsInt());
            }
        }
        boolean seenLayer = false;
        List<String> pending = new ArrayList<>();
        for (IndexedWeight w : index.weights()) {
            if (!w.weight().scope().isEmpty()) {
                continue;
            }
            if (w.layer().isPresent()) {
                seenLayer = true;
                t.put(w.name(), maxLayer <= 0 ? 0.0 : (double) w.layer().getAsInt() / maxLayer);
                for (String p : pending) {
                    t.put(p, 0.0); // between layers: treat as the start, like mergekit's layer-less weights
                }
                pending.clear();
            } else if (!seenLayer) {
                t.put(w.name(), 0.0);
            } else {
                pending.add(w.name());
            }
        }
        for (String p : pending) {
            t.put(p, 1.0);
        }
    }

    /** The index the depths were read from. */
    GraphIndex index() {
        return index;
    }

    /** {@code t} of tensor {@code name}. */
    double of(String name) {
        return t.getOrDefault(name, 0.0);
    }
}
