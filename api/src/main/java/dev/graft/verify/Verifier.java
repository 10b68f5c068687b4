package dev.graft.verify;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.graft.VerificationException;
import dev.graft.onnx.OnnxModel;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Loads a model in ONNX Runtime and runs it on generated probe inputs (see {@link ProbeOptions}); optionally
 * runs a reference model on the same inputs and reports the largest differences per output.
 */
public final class Verifier {
    private final ProbeOptions options;

    public Verifier(ProbeOptions options) {
        this.options = options;
    }

    /** Runs {@code model} alone. */
    public VerifyReport verify(Path model) {
        return verify(model, null);
    }

    /** Runs {@code model} and, if {@code against} is not null, the reference on the same inputs. */
    public VerifyReport verify(Path model, Path against) {
        return probe(model, (env, session, inputs) -> {
            Map<String, double[]> ours = new LinkedHashMap<>();
            List<VerifyReport.Output> outputs = run(session, inputs, model, ours);
            Map<String, List<Long>> shapes = new LinkedHashMap<>();
            for (Map.Entry<String, OnnxTensor> e : inputs.entrySet()) {
                shapes.put(e.getKey(), boxed(e.getValue().getInfo().getShape()));
            }
            List<OutputDifference> diffs = new ArrayList<>();
            if (against != null) {
                try (OrtSession.SessionOptions so2 = sessionOptions();
                     OrtSession reference = createSession(env, against, so2)) {
                    if (!reference.getInputNames().equals(session.getInputNames())) {
                        throw new VerificationException(against, null, "has inputs " + reference.getInputNames()
                                + " but " + model.getFileName() + " has " + session.getInputNames());
                    }
                    Map<String, double[]> theirs = new LinkedHashMap<>();
                    run(reference, inputs, against, theirs);
                    if (!theirs.keySet().equals(ours.keySet())) {
                        throw new VerificationException(against, null, "has outputs " + theirs.keySet() + " but "
                                + model.getFileName() + " has " + ours.keySet());
                    }
                    for (Map.Entry<String, double[]> e : ours.entrySet()) {
                        diffs.add(compare(e.getKey(), e.getValue(), theirs.get(e.getKey()), against));
                    }
                }
            }
            return new VerifyReport(model.toString(), against == null ? null : against.toString(), shapes, outputs,
                    diffs);
        });
    }

    /**
     * Runs {@code model} on the probe inputs and returns each output's values (as double, in row-major order),
     * by output name.
     */
    public Map<String, double[]> outputs(Path model) {
        return probe(model, (env, session, inputs) -> {
            Map<String, double[]> values = new LinkedHashMap<>();
            run(session, inputs, model, values);
            return values;
        });
    }

    /** Work done with a session and the probe inputs. */
    private interface ProbeRun<T> {
        T run(OrtEnvironment env, OrtSession session, Map<String, OnnxTensor> inputs) throws OrtException;
    }

    /** Opens a session on {@code model}, makes the probe inputs from its graph, runs {@code body}, and closes all. */
    private <T> T probe(Path model, ProbeRun<T> body) {
        OrtEnvironment env = OrtEnvironments.get();
        Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        try (OnnxModel opened = OnnxModel.open(model);
             OrtSession.SessionOptions so = sessionOptions();
             OrtSession session = createSession(env, model, so)) {
            for (Map.Entry<String, ModelRunner.Input> e : ProbeInputs.of(opened, options).entrySet()) {
                inputs.put(e.getKey(), ModelRunner.tensor(env, e.getValue()));
            }
            return body.run(env, session, inputs);
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    private OrtSession.SessionOptions sessionOptions() throws OrtException {
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        so.setIntraOpNumThreads(options.threads());
        so.setInterOpNumThreads(1);
        return so;
    }

    private static OrtSession createSession(OrtEnvironment env, Path model, OrtSession.SessionOptions so) {
        try {
            return env.createSession(model.toString(), so);
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
    }

    private static List<VerifyReport.Output> run(OrtSession session, Map<String, OnnxTensor> inputs, Path file,
                                                 Map<String, double[]> values) {
        List<VerifyReport.Output> outs = new ArrayList<>();
        try (OrtSession.Result result = session.run(inputs)) {
            for (Map.Entry<String, OnnxValue> e : result) {
                if (!(e.getValue() instanceof OnnxTensor)) {
                    throw new VerificationException(file, e.getKey(), "output is not a tensor", null);
                }
                OnnxTensor t = (OnnxTensor) e.getValue();
                double[] v = toDoubles(t, file, e.getKey());
                boolean finite = Arrays.stream(v).allMatch(Double::isFinite);
                values.put(e.getKey(), v);
                outs.add(new VerifyReport.Output(e.getKey(), t.getInfo().type.toString(), boxed(t.getInfo().getShape()),
                        finite));
            }
        } catch (OrtException e) {
            throw new VerificationException(file, null, "ONNX Runtime cannot run the model: " + e.getMessage(), e);
        }
        return outs;
    }

    private static double[] toDoubles(OnnxTensor t, Path file, String name) {
        switch (t.getInfo().type) {
            case FLOAT:
            case FLOAT16:
            case BFLOAT16: {
                java.nio.FloatBuffer f = t.getFloatBuffer();
                double[] d = new double[f.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = f.get(i);
                }
                return d;
            }
            case DOUBLE: {
                java.nio.DoubleBuffer b = t.getDoubleBuffer();
                double[] d = new double[b.remaining()];
                b.get(d);
                return d;
            }
            case INT64: {
                java.nio.LongBuffer b = t.getLongBuffer();
                double[] d = new double[b.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b.get(i);
                }
                return d;
            }
            case INT32: {
                java.nio.IntBuffer b = t.getIntBuffer();
                double[] d = new double[b.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b.get(i);
                }
                return d;
            }
            default: {
                ByteBuffer b = t.getByteBuffer();
                double[] d = new double[b.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b.get(i);
                }
                return d;
            }
        }
    }

    private static OutputDifference compare(String name, double[] a, double[] b, Path against) {
        if (a.length != b.length) {
            throw new VerificationException(against, name, "output has " + b.length + " values, expected " + a.length,
                    null);
        }
        double maxAbs = 0;
        double scale = 0;
        for (int i = 0; i < a.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(b[i]));
        }
        return new OutputDifference(name, maxAbs, scale == 0 ? maxAbs : maxAbs / scale);
    }

    private static List<Long> boxed(long[] shape) {
        List<Long> l = new ArrayList<>();
        for (long s : shape) {
            l.add(s);
        }
        return l;
    }
}
