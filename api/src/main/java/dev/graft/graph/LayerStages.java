package dev.graft.graph;

import dev.graft.index.GraphIndex;
import dev.graft.onnx.OnnxModel;
import dev.graft.plan.TensorDepths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The order in which methods that fit each layer on the merged model's own inputs (RegMean++, PLeaS) fit a
 * model's affine layers: stages, each fitted in one pass over the data once everything before it is merged. Where
 * the model has two or more numbered layers (transformer blocks), a stage is one numbered layer, in number order
 * (as RegMean++'s paper); otherwise each stage is the layers reading one value (an MLP's or a CNN's layers one at a
 * time), in graph order.
 */
public final class LayerStages {
    private LayerStages() {
    }

    /** {@code layers} (of {@code model}, in graph order) grouped into stages, in the order they are fitted. */
    public static List<List<AffineLayer>> of(OnnxModel model, List<AffineLayer> layers) {
        TensorDepths depths = new TensorDepths(GraphIndex.of(model));
        long numbered = layers.stream().mapToInt(l -> depths.stage(l.weight())).distinct().count();
        Map<Object, List<AffineLayer>> byStage = numbered >= 2 ? new TreeMap<>() : new LinkedHashMap<>();
        for (AffineLayer l : layers) {
            Object key = numbered >= 2 ? (Object) depths.stage(l.weight()) : l.input();
            byStage.computeIfAbsent(key, k -> new ArrayList<>()).add(l);
        }
        return new ArrayList<>(byStage.values());
    }
}
