package dev.graft.plan;

import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each tensor sits in the model's depth, in the order the graph reads the tensors
 * ({@link GraphIndex#weightsInGraphOrder}). Its {@link #stage}: −1 before the first numbered layer (embeddings),
 * the layer number, or one past the last layer (heads); a tensor outside layers between two of them belongs to the
 * next layer. Its depth {@code t ∈ [0,1]} for gradient settings: {@code layer / (layers − 1)}, 0 before the layers
 * and 1 after (as mergekit's pre- and post-weights).
 */
public final class TensorDepths {
    private final GraphIndex index;
    private final Map<String, Double> t = new LinkedHashMap<>();
    private final Map<String, Integer> stage = new LinkedHashMap<>();
    private final int layers;

    /** The depths of {@code index}'s tensors. */
    public TensorDepths(GraphIndex index) {
        this.index = index;
        int maxLayer = -1;
        for (IndexedWeight w : index.weights()) {
            if (w.layer().isPresent()) {
                maxLayer = Math.max(maxLayer, w.layer().getAsInt());
            }
        }
        this.layers = maxLayer + 1;
        boolean seenLayer = false;
        List<String> pending = new ArrayList<>();
        for (IndexedWeight w : index.weightsInGraphOrder()) {
            if (!w.weight().scope().isEmpty()) {
                continue;
            }
            if (w.layer().isPresent()) {
                seenLayer = true;
                t.put(w.name(), maxLayer <= 0 ? 0.0 : (double) w.layer().getAsInt() / maxLayer);
                stage.put(w.name(), w.layer().getAsInt());
                for (String p : pending) {
                    t.put(p, 0.0); // between layers: treat as the start, like mergekit's layer-less weights
                    stage.put(p, w.layer().getAsInt());
                }
                pending.clear();
            } else if (!seenLayer) {
                t.put(w.name(), 0.0);
                stage.put(w.name(), -1);
            } else {
                pending.add(w.name());
            }
        }
        for (String p : pending) {
            t.put(p, 1.0);
            stage.put(p, maxLayer + 1);
        }
    }

    /** How many numbered layers the model has (0 for none): stages {@code 0 .. layers − 1} are layers. */
    public int layers() {
        return layers;
    }

    /** The stage of tensor {@code name}: −1 before the layers, its layer, or one past the last layer. */
    public int stage(String name) {
        return stage.getOrDefault(name, -1);
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
