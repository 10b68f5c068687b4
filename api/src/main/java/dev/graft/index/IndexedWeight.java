package dev.graft.index;

import dev.graft.onnx.Weight;
import java.util.List;
import java.util.OptionalInt;

/**
 * A weight with what the graph says about it: its uses, its role (the one role all uses agree on, else
 * {@link WeightRole#UNKNOWN}), the module path it belongs to ({@code encoder.layer.3.attention.self.query},
 * from node names or, failing that, from a PyTorch-style weight name) and the layer number in that path.
 */
public record IndexedWeight(Weight weight, WeightRole role, List<WeightUse> uses, String modulePath,
                            OptionalInt layer) {
    public String name() {
        return weight.name();
    }
}
