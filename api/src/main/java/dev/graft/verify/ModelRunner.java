package dev.graft.verify;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.graft.VerificationException;
import dev.graft.tensor.BFloat16;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.Float16;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs a model in ONNX Runtime on inputs the caller gives (row-major float32, float16, bfloat16 or float64 values,
 * or int64, int32 or bool ones), returning its outputs: the floating-point ones with their values as float32, the
 * others with their shape and type only. For evaluators, calibration runs and probes. One session per runner;
 * close it.
 */
public final class ModelRunner implements AutoCloseable {
    /**
     * A row-major input tensor and its element type: float32, float16, bfloat16 or float64 from {@code floats}
     * (rounded to the type); int64, int32 or bool (zero or not) from {@code longs}.
     */
    public record Input(long[] shape, float[] floats, long[] longs, ElementType type) {
        public Input {
            boolean fromFloats = type.isFloatingPoint();
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

        /** A float32, float16, bfloat16 or float64 input. */
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
    private final OrtEnvironment env = OrtEnvironments.get();
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
        this(model, model, threads, optimized, weights);
    }

    /**
     * A session on {@code file}, a working copy of {@code shownAs} (the user's model, which errors name), as the
     * other constructors describe.
     */
    public ModelRunner(Path file, Path shownAs, int threads, boolean optimized, Map<String, Input> weights) {
        this.model = shownAs;
        OrtSession.SessionOptions opened = new OrtSession.SessionOptions();
        try {
            opened.setIntraOpNumThreads(threads);
            opened.setInterOpNumThreads(1);
            opened.setSessionLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL); // errors come back as exceptions
            if (!optimized) {
                opened.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            }
            for (Map.Entry<String, Input> w : weights.entrySet()) {
                OnnxTensor t = tensor(env, w.getValue());
                initializers.add(t);
                opened.addInitializer(w.getKey(), t);
            }
            session = env.createSession(file.toString(), opened);
        } catch (OrtException e) {
            initializers.forEach(OnnxTensor::close);
            opened.close();
            throw new VerificationException(shownAs, null, "ONNX Runtime cannot load the model: " + e.getMessage(), e);
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

    /**
     * Runs the model and returns the tensor outputs named in {@code outputs} (all tensor outputs when empty),
     * which may include intermediate values that the graph lists as outputs; a value that is not floating point
     * comes with its shape and type and no values. Inputs the model does not have are left out.
     */
    public Map<String, Output> run(Map<String, Input> inputs, java.util.Set<String> outputs) {
        return run(inputs, null, outputs);
    }

    /**
     * Outputs of one run kept as ONNX Runtime holds them, to be given to other runs (of this or another model) as
     * they are, with no copy: weights computed once and fed to many runs. Close after use.
     */
    public static final class Kept implements AutoCloseable {
        private final OrtSession.Result result;
        private final Map<String, OnnxTensor> tensors = new LinkedHashMap<>();

        private Kept(OrtSession.Result result) {
            this.result = result;
            for (Map.Entry<String, OnnxValue> e : result) {
                if (e.getValue() instanceof OnnxTensor t) {
                    tensors.put(e.getKey(), t);
                }
            }
        }

        /** The kept outputs' names. */
        public java.util.Set<String> names() {
            return java.util.Collections.unmodifiableSet(tensors.keySet());
        }

        @Override
        public void close() {
            result.close();
        }
    }

    /** Runs the model and keeps every output as ONNX Runtime holds it ({@link Kept}). */
    public Kept runKept(Map<String, Input> inputs) {
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) {
                if (session.getInputNames().contains(e.getKey())) {
                    tensors.put(e.getKey(), tensor(env, e.getValue()));
                }
            }
            return new Kept(session.run(tensors));
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot run the model: " + e.getMessage(), e);
        } finally {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * {@link #run(Map, java.util.Set)} with the outputs of another run, {@code given} (null for none), as inputs of
     * the same names besides {@code inputs}.
     */
    public Map<String, Output> run(Map<String, Input> inputs, Kept given, java.util.Set<String> outputs) {
        Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Input> e : inputs.entrySet()) {
                if (!session.getInputNames().contains(e.getKey())) {
                    continue;
                }
                tensors.put(e.getKey(), tensor(env, e.getValue()));
            }
            Map<String, OnnxTensor> fed = new LinkedHashMap<>(tensors);
            if (given != null) {
                given.tensors.forEach((name, t) -> {
                    if (session.getInputNames().contains(name)) {
                        fed.put(name, t);
                    }
                });
            }
            Map<String, Output> out = new LinkedHashMap<>();
            try (OrtSession.Result r = outputs.isEmpty() ? session.run(fed) : session.run(fed, outputs)) {
                for (Map.Entry<String, OnnxValue> e : r) {
                    if (e.getValue() instanceof OnnxTensor t) {
                        ElementType type = elementType(t.getInfo(), e.getKey());
                        out.put(e.getKey(), new Output(t.getInfo().getShape(), floats(t, type), type));
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

    /**
     * The element type of a tensor ONNX Runtime describes (its Java enum numbers types its own way, not as
     * {@code TensorProto.DataType} does, so types are matched by name).
     */
    private ElementType elementType(TensorInfo info, String name) {
        String type = info.onnxType.name().substring("ONNX_TENSOR_ELEMENT_DATA_TYPE_".length());
        for (ElementType t : ElementType.values()) {
            if (t.name().equals(type)) {
                return t;
            }
        }
        throw new VerificationException(model, name, "has element type " + type + ", which Graft does not read", null);
    }

    /** A floating-point tensor's values as float32 (null for other types). */
    private static float[] floats(OnnxTensor t, ElementType type) {
        if (type == ElementType.FLOAT16 || type == ElementType.BFLOAT16) {
            ShortBuffer b = t.getByteBuffer().order(ByteOrder.nativeOrder()).asShortBuffer();
            float[] v = new float[b.remaining()];
            for (int i = 0; i < v.length; i++) {
                v[i] = type == ElementType.FLOAT16 ? Float16.toFloat(b.get(i)) : BFloat16.toFloat(b.get(i));
            }
            return v;
        }
        FloatBuffer f = type.isFloatingPoint() ? t.getFloatBuffer() : null;
        if (f == null) {
            return null;
        }
        float[] v = new float[f.remaining()];
        f.get(v);
        return v;
    }

    /** {@code in} as an ONNX Runtime tensor (the caller closes it). */
    static OnnxTensor tensor(OrtEnvironment env, Input in) throws OrtException {
        int count = in.floats() != null ? in.floats().length : in.longs().length;
        switch (in.type()) {
            case FLOAT:
                return OnnxTensor.createTensor(env, FloatBuffer.wrap(in.floats()), in.shape());
            case FLOAT16:
            case BFLOAT16: {
                ByteBuffer b = ByteBuffer.allocateDirect(2 * count).order(ByteOrder.nativeOrder());
                for (float v : in.floats()) {
                    b.putShort(in.type() == ElementType.FLOAT16 ? Float16.fromFloat(v) : BFloat16.fromFloat(v));
                }
                return OnnxTensor.createTensor(env, b.flip(), in.shape(),
                        in.type() == ElementType.FLOAT16 ? OnnxJavaType.FLOAT16 : OnnxJavaType.BFLOAT16);
            }
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
