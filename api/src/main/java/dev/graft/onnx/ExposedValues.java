package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A copy of a model with intermediate values added to its graph outputs: ONNX Runtime shows a value only if it
 * is an output (a name-only output entry is enough). Weights are copied as they are.
 */
public final class ExposedValues {
    private ExposedValues() {
    }

    /** Writes {@code model} with {@code values} added to its outputs to {@code target}, unsynced. */
    public static Path write(OnnxModel model, Collection<String> values, Path target) {
        ModelProto.Builder b = model.proto().toBuilder();
        GraphProto.Builder g = b.getGraphBuilder();
        Set<String> outputs = new HashSet<>();
        g.getOutputList().forEach(o -> outputs.add(o.getName()));
        for (String v : values) {
            if (!v.isEmpty() && outputs.add(v)) {
                g.addOutput(ValueInfoProto.newBuilder().setName(v));
            }
        }
        List<OutputTensor> weights = new ArrayList<>();
        model.initializers().forEach(w -> weights.add(OutputTensor.copyOf(w)));
        OnnxWriter.write(b.build(), weights, target, WriteOptions.defaults().withSync(false));
        return target;
    }

    /** Every node output of the main graph, in order. */
    public static List<String> allNodeOutputs(OnnxModel model) {
        List<String> out = new ArrayList<>();
        model.proto().getGraph().getNodeList().forEach(n -> out.addAll(n.getOutputList()));
        return out;
    }
}
