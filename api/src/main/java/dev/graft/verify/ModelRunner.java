package dev.graft.verify;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.graft.VerificationException;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a model in ONNX Runtime on inputs the caller gives (row-major float32 or float64 values, or int64, int32 or
 * bool ones), returning its outputs: the float ones with their values, the others with their shape and type only.
 * For evaluators, calibration runs and probes. One session per runner; close it.
 */
public final class ModelRunner implements AutoCloseable {
    /**
     * A row-major input tensor and its element type: float32 or float64 from {@code floats}; int64, int32 or bool
     * (zero or not) from {@code longs}.
     */
    public record Input(long[] shape, float[] floats, long[] longs, ElementType type) {
        public Input {
            boolean fromFloats = type == ElementType.FLOAT || type == ElementType.DOUBLE;
            boolean fromLongs = type == ElementType.INT64 || type == ElementType.INT32 || type == ElementType.BOOL;
            if (fromFloats ? floats == null : !fromLongs || longs == null) {
                throw new IllegalArgumentException("an input of " + type.displayName() + " needs "
                        + (fromFloats ? "float values" : fromLongs ? "long values" : "another element type"));
            }
        }

        public static Input of(float[] values, long... shape) {
            return of(ElementType.FLOAT, values, shape);
        }

        public static Input ofLongs(long[] values, long... shape) {
            return ofLongs(ElementType.INT64, values, shape);
        }

        /** A float32 or float64 input. */
        public static Input of(ElementType type, float[] values, long... shape) {
            return new Input(shape.clone(), values, null, type);
        }

        /** An int64, int32 or bool input. */
        public static Input ofLongs(ElementType type, long[] values, long... shape) {
            return new Input(shape.clone(), null, values, type);
        }
    }

    /** An output: its shape, its element type, and its values as float32 (null unless floating point). */
    public record Output(long[] shape, float[] values, ElementType type) {
        /** A float32 output. */
        public Output(long[] shape, float[] values) {
            this(shape, values, ElementType.FLOAT);
        }
    }

    private final Path model;
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession.SessionOptions options;
    private final OrtSession session;
    private final List<OnnxTensor> initializers = new ArrayList<>();

    public ModelRunner(Path model, int threads) {
        this(model, threads, true);
    }

    /**
     * A session on {@code model} with {@code threads} intra-op threads; without graph optimizations unless
     * {@code optimized} (for probing a graph with every value exposed, where optimizing costs more than running).
     */
    public ModelRunner(Path model, int threads, boolean optimized) {
        this(model, threads, optimized, Map.of());
    }

    /**
     * A session on {@code model} in which {@code weights} replace the initializers of the same names: a model
     * changed in memory (a merge candidate) runs without a file being written. The caller checks that each
     * replaces an initializer of the same shape and element type (ONNX Runtime ignores unknown names).
     */
    public ModelRunner(Path model, int threads, Map<String, Input> weights) {
        this(model, threads, true, weights);
    }

    private ModelRunner(Path model, int threads, boolean optimized, Map<String, Input> weights) {
        this.model = model;
        OrtSession.SessionOptions opened = new OrtSession.SessionOptions();
        try {
            opened.setIntraOpNumThreads(threads);
            opened.setInterOpNumThreads(1);
            if (!optimized) {
                opened.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            }
            for (Map.Entry<String, Input> w : weights.entrySet()) {
                OnnxTensor t = tensor(env, w.getValue());
                initializers.add(t);
                opened.addInitializer(w.getKey(), t);
            }
            session = env.createSession(model.toString(), opened);
        } catch (OrtException e) {
            initializers.forEach(OnnxTensor::close);
            opened.close();
            throw new VerificationException(model, null, "ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
        options = opened;
    }

    /** The model's input names, in order. */
    public List<String> inputNames() {
        return List.copyOf(session.getInputNames());
    }

    /** The model's output names, in order. */
    public List<String> outputNames() {
        return List.copyOf(session.getOutputNames());
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
     * which may include intermediate values that the graph lists as outputs; a value that is not floating point
     * comes with its shape and type and no values. Inputs the model does not have are left out.
     */
    public Map<String, Output> run(Map<String, Input> inputs, java.util.Set<String> outputs) {
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) {
                if (!session.getInputNames().contains(e.getKey())) {
                    continue;
                }
                tensors.put(e.getKey(), tensor(env, e.getValue()));
            }
            Map<String, Output> out = new LinkedHashMap<>();
            try (OrtSession.Result r = outputs.isEmpty() ? session.run(tensors) : session.run(tensors, outputs)) {
                for (Map.Entry<String, OnnxValue> e : r) {
                    if (e.getValue() instanceof OnnxTensor t) {
                        ElementType type = ElementType.fromCode(t.getInfo().onnxType.value, model, e.getKey());
                        FloatBuffer f = type.isFloatingPoint() ? t.getFloatBuffer() : null;
                        float[] v = null;
                        if (f != null) {
                            v = new float[f.remaining()];
                            f.get(v);
                        }
                        out.put(e.getKey(), new Output(t.getInfo().getShape(), v, type));
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

    /** {@code in} as an ONNX Runtime tensor (the caller closes it). */
    static OnnxTensor tensor(OrtEnvironment env, Input in) throws OrtException {
        int count = in.floats() != null ? in.floats().length : in.longs().length;
        switch (in.type()) {
            case FLOAT:
                return OnnxTensor.createTensor(env, FloatBuffer.wrap(in.floats()), in.shape());
            case DOUBLE: {
                double[] d = new double[count];
                for (int i = 0; i < count; i++) {
                    d[i] = in.floats()[i];
                }
                return OnnxTensor.createTensor(env, DoubleBuffer.wrap(d), in.shape());
            }
            case INT32: {
                int[] v = new int[count];
                for (int i = 0; i < count; i++) {
                    v[i] = Math.toIntExact(in.longs()[i]);
                }
                return OnnxTensor.createTensor(env, IntBuffer.wrap(v), in.shape());
            }
            case BOOL: {
                ByteBuffer b = ByteBuffer.allocateDirect(count).order(ByteOrder.nativeOrder());
                for (long v : in.longs()) {
                    b.put((byte) (v != 0 ? 1 : 0));
                }
                return OnnxTensor.createTensor(env, b.flip(), in.shape(), OnnxJavaType.BOOL);
            }
            default:
                return OnnxTensor.createTensor(env, LongBuffer.wrap(in.longs()), in.shape());
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        } finally {
            options.close();
            initializers.forEach(OnnxTensor::close);
        }
    }
}
