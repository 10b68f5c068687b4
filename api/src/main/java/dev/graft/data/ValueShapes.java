package dev.graft.data;

import dev.graft.exec.ProgressListener;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.verify.ModelRunner;
import dev.graft.verify.ProbeInputs;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The concrete shape of every value of a model's main graph (its inputs and every node output), as ONNX Runtime
 * computes it on probe inputs ({@link ProbeInputs}): for analyses that need concrete shapes, such as how a
 * {@code Reshape} splits an axis. A shape probe is one batch through {@link Activations} with every value exposed,
 * in a session without graph optimizations.
 */
public final class ValueShapes {
    /** The shape of one value, and whether it is floating point. */
    public record Shape(long[] shape, boolean floatingPoint) {
        public Shape {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    private ValueShapes() {
    }

    /**
     * Runs {@code model} once on probe inputs made as {@code options} says and returns each value's shape, by name,
     * inputs first.
     *
     * @throws dev.graft.VerificationException naming the model if ONNX Runtime cannot load or run it, or an input
     *                                         cannot be probed
     */
    public static Map<String, Shape> of(Path model, ProbeOptions options) {
        Map<String, ModelRunner.Input> probe;
        List<String> values;
        try (OnnxModel opened = OnnxModel.open(model)) {
            probe = ProbeInputs.of(opened, options);
            values = ExposedValues.allNodeOutputs(opened);
        }
        Map<String, Shape> shapes = new LinkedHashMap<>();
        probe.forEach((name, in) -> shapes.put(name, new Shape(in.shape(), in.type().isFloatingPoint())));
        try (Activations runs = Activations.unoptimized(model, values)) {
            runs.run(Calibration.of(model.toString(), List.of(probe)), batch -> batch.outputs().get(0).forEach(
                    (name, out) -> shapes.put(name, new Shape(out.shape(), out.type().isFloatingPoint()))),
                    ProgressListener.NONE, "probing");
        }
        return shapes;
    }
}
