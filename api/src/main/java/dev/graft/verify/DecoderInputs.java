package dev.graft.verify;

import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The inputs a decoder LLM takes besides its tokens and mask, as Optimum and ONNX Runtime GenAI export them, made
 * to agree with the tokens: {@code position_ids} (each token's position, counted from the tokens already in the KV
 * cache; padding gets 1, as Hugging Face does), {@code cache_position}, a {@code total_sequence_length} scalar,
 * {@code past_key_values.*} (empty when the cache is empty) and a legacy merged decoder's {@code use_cache_branch}
 * (true only with a cache).
 */
public final class DecoderInputs {
    private final Path file;
    private final List<ValueInfoProto> inputs;

    private DecoderInputs(Path file, List<ValueInfoProto> inputs) {
        this.file = file;
        this.inputs = inputs;
    }

    /** The graph inputs of {@code model} (initializers aside), to complete calibration batches with. */
    public static DecoderInputs of(OnnxModel model) {
        Set<String> initializers = new HashSet<>();
        model.proto().getGraph().getInitializerList().forEach(t -> initializers.add(t.getName()));
        return new DecoderInputs(model.file(), model.proto().getGraph().getInputList().stream()
                .filter(in -> !initializers.contains(in.getName()) && in.getType().hasTensorType()).toList());
    }

    /**
     * Whether the model is a causal decoder as exporters write them: it takes {@code position_ids},
     * {@code cache_position} or a KV cache ({@code past_key_values.*}, {@code past.*}).
     */
    public boolean causal() {
        return inputs.stream().map(ValueInfoProto::getName).anyMatch(n -> n.equals("position_ids")
                || n.equals("cache_position") || n.startsWith("past_key_values") || n.startsWith("past."));
    }

    /**
     * The values of integer or bool input {@code name} of shape {@code shape} that follow from the sizes alone (the
     * mask all ones), or null if the name is not one of those.
     */
    static long[] counted(String name, long[] shape, SymbolicDims sizes) {
        String n = name.toLowerCase(Locale.ROOT);
        if (!n.equals("position_ids") && !n.equals("cache_position") && !n.equals("use_cache_branch")
                && !n.equals("total_sequence_length")) {
            return null;
        }
        int count = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
        long[] v = new long[count];
        if (n.equals("position_ids") || n.equals("cache_position")) {
            int last = shape.length == 0 ? 1 : (int) shape[shape.length - 1];
            for (int i = 0; i < count; i++) {
                v[i] = sizes.past() + i % Math.max(1, last);
            }
            return v;
        }
        if (n.equals("use_cache_branch")) {
            Arrays.fill(v, sizes.past() > 0 ? 1 : 0);
            return v;
        }
        Arrays.fill(v, (long) sizes.past() + sizes.length()); // total_sequence_length
        return v;
    }

    /**
     * {@code batch} (calibration tokens: {@code input_ids} {@code [rows, length]} and an {@code attention_mask} of the
     * same shape, padding at the end) with the decoder inputs the model has and the batch lacks: position ids
     * from the mask, an empty KV cache, {@code use_cache_branch} false, {@code total_sequence_length}. Other missing
     * inputs stay missing (ONNX Runtime names them).
     */
    public Map<String, ModelRunner.Input> complete(Map<String, ModelRunner.Input> batch) {
        ModelRunner.Input tokens = batch.get("input_ids");
        if (tokens == null || tokens.shape().length != 2) {
            return batch;
        }
        SymbolicDims sizes = new SymbolicDims((int) tokens.shape()[0], (int) tokens.shape()[1], 0, Map.of());
        Map<String, ModelRunner.Input> out = new LinkedHashMap<>(batch);
        for (ValueInfoProto in : inputs) {
            String name = in.getName();
            if (batch.containsKey(name)) {
                continue;
            }
            ElementType type = ElementType.fromCode(in.getType().getTensorType().getElemType(), file, name);
            long[] shape = sizes.shape(in);
            if (name.equals("position_ids") && batch.containsKey("attention_mask")) {
                out.put(name, ModelRunner.Input.ofLongs(type, positions(batch.get("attention_mask")), shape));
                continue;
            }
            long[] counted = type.isFloatingPoint() ? null : counted(name, shape, sizes);
            if (counted != null) {
                out.put(name, ModelRunner.Input.ofLongs(type, counted, shape));
            } else if (type.isFloatingPoint() && Arrays.stream(shape).anyMatch(d -> d == 0)) {
                out.put(name, ModelRunner.Input.of(type, new float[0], shape)); // an empty KV cache
            }
        }
        return out;
    }

    /** Position ids for a {@code [rows, length]} mask: the count of real tokens before each, 1 on padding. */
    static long[] positions(ModelRunner.Input mask) {
        int rows = (int) mask.shape()[0];
        int length = (int) mask.shape()[1];
        long[] v = new long[rows * length];
        for (int r = 0; r < rows; r++) {
            long seen = 0;
            for (int i = 0; i < length; i++) {
                boolean real = mask.longs()[r * length + i] != 0;
                v[r * length + i] = real ? seen : 1;
                seen += real ? 1 : 0;
            }
        }
        return v;
    }
}
