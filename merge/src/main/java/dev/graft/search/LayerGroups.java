package dev.graft.search;

import dev.graft.index.GraphIndex;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.TensorDepths;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A model's floating-point initializers in consecutive groups of layers, as mergekit-evolve groups a genome's
 * layers: the numbered layers cut into {@code groups} consecutive runs (layer {@code l} of {@code L} in group
 * {@code ⌊l·groups/L⌋}), the embeddings in the first group and the heads in the last. A model without numbered
 * layers is one group; a model with fewer layers
 * than groups has a group per layer.
 *
 * @param count   the groups used
 * @param groupOf each floating-point initializer's group
 */
record LayerGroups(int count, Map<String, Integer> groupOf) {
    static LayerGroups of(OnnxModel model, int groups) {
        TensorDepths depths = new TensorDepths(GraphIndex.of(model));
        int layers = depths.layers();
        int used = layers == 0 ? 1 : Math.min(groups, layers);
        Map<String, Integer> groupOf = new LinkedHashMap<>();
        for (Weight w : model.initializers()) {
            if (w.type().isFloatingPoint()) {
                int stage = depths.stage(w.name());
                groupOf.put(w.name(), layers == 0 || stage < 0 ? 0 : stage >= layers ? used - 1 : stage * used / layers);
            }
        }
        return new LayerGroups(used, Map.copyOf(groupOf));
    }
}
