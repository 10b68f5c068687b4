package dev.graft.testing;

import dev.graft.data.NpyArray;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tiny Llama-style decoders of {@code examples/recipes/decoders} (made by its {@code make_decoders.py}) and the
 * way a user runs them: a prefix with an empty KV cache, then the next tokens with the cache the prefix returned.
 */
public final class Decoders {
    /** The fixtures' folder, from any module's working directory. */
    public static final Path DIR = Path.of("../examples/recipes/decoders").toAbsolutePath().normalize();
    /** Layers, key/value heads and head size of every fixture. */
    public static final int LAYERS = 2;
    public static final int KV_HEADS = 1;
    public static final int HEAD = 16;
    /** Tokens in the prefix of {@link #kvLogits}. */
    public static final int PREFIX = 8;

    private Decoders() {
    }

    /** A fixture file, such as {@code optimum/base/model.onnx}. */
    public static Path model(String path) {
        return DIR.resolve(path);
    }

    /** The test tokens ({@code [2, 12]}: the second sample left-padded by 3 with id 0). */
    public static long[] tokens() {
        return NpyArray.read(DIR.resolve("tokens.npy")).longs();
    }

    /** The test tokens' attention mask: the second sample's padding is 0, everything else 1. */
    public static long[] mask() {
        long[] ids = tokens();
        long[] mask = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            mask[i] = ids[i] != 0 || i < ids.length / 2 ? 1 : 0;
        }
        return mask;
    }

    /** The test tokens' position ids: real tokens counted from 0, padding 0. */
    public static long[] positions() {
        long[] mask = mask();
        int length = mask.length / 2;
        long[] positions = new long[mask.length];
        for (int r = 0; r < 2; r++) {
            long seen = 0;
            for (int i = 0; i < length; i++) {
                positions[r * length + i] = mask[r * length + i] != 0 ? seen++ : 0;
            }
        }
        return positions;
    }

    /** Torch's logits for the test tokens with the weights of {@code name} (base, licence, c, python). */
    public static float[] torchLogits(String name) {
        return NpyArray.read(DIR.resolve("logits_" + name + ".npy")).floats();
    }

    /**
     * The largest difference between the logits float32-cache {@code model} gives the real tokens through its KV
     * cache ({@link #kvLogits}) and torch's with the weights of {@code name}.
     */
    public static double diffFromTorch(Path model, String name) {
        return maxAbsDiff(onTokens(kvLogits(model, ElementType.FLOAT)), onTokens(torchLogits(name)));
    }

    /**
     * The logits {@code model} gives the test tokens, run as a user runs a decoder with a KV cache: the first
     * {@value #PREFIX} tokens with an empty cache, then the rest with the cache the first run returned; the two runs'
     * logits joined along the sequence ({@code [2, 12, vocab]}). Past key/values have the element type
     * {@code cache}.
     */
    public static float[] kvLogits(Path model, ElementType cache) {
        return kvLogits(model, cache, 2);
    }

    /**
     * As {@link #kvLogits(Path, ElementType)}, for the first {@code rows} samples (1: the first sample alone, which
     * has no padding; GroupQueryAttention takes several new tokens with a cache only for one sample).
     */
    public static float[] kvLogits(Path model, ElementType cache, int rows) {
        int length = tokens().length / 2;
        try (ModelRunner runner = new ModelRunner(model, 1)) {
            Map<String, ModelRunner.Input> first = tokenInputs(0, PREFIX, rows);
            for (int l = 0; l < LAYERS; l++) {
                for (String part : new String[] {"key", "value"}) {
                    first.put("past_key_values." + l + "." + part,
                            ModelRunner.Input.of(cache, new float[0], rows, KV_HEADS, 0, HEAD));
                }
            }
            // a legacy merged decoder takes the branch without a cache first, then the one with it
            first.put("use_cache_branch", ModelRunner.Input.ofLongs(ElementType.BOOL, new long[] {0}, 1));
            Map<String, ModelRunner.Output> out1 = runner.run(first, java.util.Set.of());
            Map<String, ModelRunner.Input> second = tokenInputs(PREFIX, length, rows);
            for (int l = 0; l < LAYERS; l++) {
                for (String part : new String[] {"key", "value"}) {
                    ModelRunner.Output present = out1.get("present." + l + "." + part);
                    second.put("past_key_values." + l + "." + part,
                            ModelRunner.Input.of(cache, present.values(), present.shape()));
                }
            }
            second.put("use_cache_branch", ModelRunner.Input.ofLongs(ElementType.BOOL, new long[] {1}, 1));
            Map<String, ModelRunner.Output> out2 = runner.run(second, java.util.Set.of());
            return join(out1.get("logits"), out2.get("logits"));
        }
    }

    /** The logits {@code model} (without a cache) gives the test tokens in one run. */
    public static float[] logits(Path model) {
        try (ModelRunner runner = new ModelRunner(model, 1)) {
            return runner.run(tokenInputs(0, tokens().length / 2, 2), java.util.Set.of("logits")).get("logits")
                    .values();
        }
    }

    /**
     * The logits a KV-cache {@code model} gives the test tokens in one ONNX Runtime run with an empty cache and
     * {@code options} (an active {@code OrtLoraAdapter}, say), on the real tokens' positions ({@link #onTokens}).
     */
    public static float[] logitsWithEmptyCache(Path model, ai.onnxruntime.OrtSession.RunOptions options) {
        ai.onnxruntime.OrtEnvironment env = ai.onnxruntime.OrtEnvironment.getEnvironment();
        int length = tokens().length / 2;
        long[] shape = {2, length};
        Map<String, ai.onnxruntime.OnnxTensor> inputs = new LinkedHashMap<>();
        try (ai.onnxruntime.OrtSession session = env.createSession(model.toString())) {
            inputs.put("input_ids", ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(tokens()), shape));
            inputs.put("attention_mask", ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(mask()), shape));
            inputs.put("position_ids", ai.onnxruntime.OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(positions()),
                    shape));
            for (int l = 0; l < LAYERS; l++) {
                for (String part : new String[] {"key", "value"}) {
                    inputs.put("past_key_values." + l + "." + part, ai.onnxruntime.OnnxTensor.createTensor(env,
                            java.nio.FloatBuffer.allocate(0), new long[] {2, KV_HEADS, 0, HEAD}));
                }
            }
            try (ai.onnxruntime.OrtSession.Result r = session.run(inputs, java.util.Set.of("logits"), options)) {
                java.nio.FloatBuffer b = ((ai.onnxruntime.OnnxTensor) r.get(0)).getFloatBuffer();
                float[] v = new float[b.remaining()];
                b.get(v);
                return onTokens(v);
            }
        } catch (ai.onnxruntime.OrtException e) {
            throw new AssertionError(model + ": " + e.getMessage(), e);
        } finally {
            inputs.values().forEach(ai.onnxruntime.OnnxTensor::close);
        }
    }

    /**
     * The first {@code rows} samples' test tokens {@code [from, to)} with their position ids, and the mask of every
     * token up to {@code to} (the cache's and the new ones).
     */
    private static Map<String, ModelRunner.Input> tokenInputs(int from, int to, int rows) {
        int length = tokens().length / 2;
        Map<String, ModelRunner.Input> in = new LinkedHashMap<>();
        in.put("input_ids", ModelRunner.Input.ofLongs(slice(tokens(), rows, length, from, to), rows, to - from));
        in.put("attention_mask", ModelRunner.Input.ofLongs(slice(mask(), rows, length, 0, to), rows, to));
        in.put("position_ids", ModelRunner.Input.ofLongs(slice(positions(), rows, length, from, to), rows, to - from));
        return in;
    }

    /**
     * The logits of the test tokens' real positions ({@code [2, 12, vocab]} without the padding's rows: their
     * attention has nothing to look at, and frameworks fill it differently).
     */
    public static float[] onTokens(float[] logits) {
        long[] mask = mask();
        int vocab = logits.length / mask.length;
        float[] out = new float[(int) java.util.Arrays.stream(mask).sum() * vocab];
        int at = 0;
        for (int p = 0; p < mask.length; p++) {
            if (mask[p] != 0) {
                System.arraycopy(logits, p * vocab, out, at, vocab);
                at += vocab;
            }
        }
        return out;
    }

    /** The largest absolute difference between two arrays of one length. */
    public static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths " + a.length + " and " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    private static long[] slice(long[] v, int rows, int length, int from, int to) {
        long[] out = new long[rows * (to - from)];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(v, r * length + from, out, r * (to - from), to - from);
        }
        return out;
    }

    /** {@code [rows, a, vocab]} and {@code [rows, b, vocab]} joined along the sequence. */
    private static float[] join(ModelRunner.Output a, ModelRunner.Output b) {
        int rows = (int) a.shape()[0];
        int vocab = (int) a.shape()[2];
        int la = (int) a.shape()[1];
        int lb = (int) b.shape()[1];
        float[] out = new float[rows * (la + lb) * vocab];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(a.values(), r * la * vocab, out, r * (la + lb) * vocab, la * vocab);
            System.arraycopy(b.values(), r * lb * vocab, out, (r * (la + lb) + la) * vocab, lb * vocab);
        }
        return out;
    }
}
