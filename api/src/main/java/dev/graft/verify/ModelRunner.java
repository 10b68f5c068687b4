package dev.graft.verify;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.graft.VerificationException;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a model in ONNX Runtime on inputs the caller gives (float32 or int64 tensors, row-major), returning the
 * float outputs: for evaluators and calibration runs. One session per runner; close it.
 */
public final class ModelRunner implements AutoCloseable {
    /** A row-major input tensor: float32 values or int64 values, with its shape. */
    public record Input(long[] shape, float[] floats, long[] longs) {
        public static Input of(float[] values, long... shape) {
            return new Input(shape.clone(), values, null);
        }

        public static Input ofLongs(long[] values, long... shape) {
            return new Input(shape.clone(), null, values);
        }
    }

    /** An output: its shape and values (as float32). */
    public record Output(long[] shape, float[] values) {
    }

    private final Path model;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession.SessionOptions options;
    private final OrtSession session;

    public ModelRunner(Path model, int threads) {
        this.model = model;
        try {
            options = new OrtSession.SessionOptions();
            options.setIntraOpNumThreads(threads);
            options.setInterOpNumThreads(1);
            session = env.createSession(model.toString(), options);
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
    }

    /** The model's input names, in order. */
    public List<String> inputNames() {
        return List.copyOf(session.getInputNames());
    }

    /** Declared input shapes (-1 for symbolic dimensions). */
    public Map<String, long[]> inputShapes() {
        Map<String, long[]> out = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, NodeInfo> e : session.getInputInfo().entrySet()) {
                if (e.getValue().getInfo() instanceof TensorInfo t) {
                    out.put(e.getKey(), t.getShape());
                }
            }
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot describe the inputs: " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * Runs the model and returns the tensor outputs named in {@code outputs} (all tensor outputs when empty),
     * which may include intermediate values that the graph lists as outputs. Inputs the model does not have are
     * left out.
     */
    public Map<String, Output> run(Map<String, Input> inputs, java.util.Set<String> outputs) {
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) {
                if (!session.getInputNames().contains(e.getKey())) {
                    continue;
                }
                Input in = e.getValue();
                tensors.put(e.getKey(), in.floats() != null
                        ? OnnxTensor.createTensor(env, FloatBuffer.wrap(in.floats()), in.shape())
                        : OnnxTensor.createTensor(env, LongBuffer.wrap(in.longs()), in.shape()));
            }
            Map<String, Output> out = new LinkedHashMap<>();
            try (OrtSession.Result r = outputs.isEmpty() ? session.run(tensors) : session.run(tensors, outputs)) {
                for (Map.Entry<String, OnnxValue> e : r) {
                    if (e.getValue() instanceof OnnxTensor t) {
                        FloatBuffer f = t.getFloatBuffer();
                        if (f == null) {
                            continue; // not a float tensor
                        }
                        float[] v = new float[f.remaining()];
                        f.get(v);
                        out.put(e.getKey(), new Output(t.getInfo().getShape(), v));
                    }
                }
            }
            return out;
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot run the model: " + e.getMessage(), e);
        } finally {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
        options.close();
    }
}
