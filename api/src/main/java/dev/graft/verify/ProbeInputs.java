package dev.graft.verify;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.VerificationException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;

/**
 * Probe inputs for a model, made from its graph as {@link ProbeOptions} says: every graph input (initializers
 * aside) gets its declared type and shape, symbolic dimensions sized by {@link SymbolicDims} (so a decoder's
 * attention mask covers its KV cache and its new tokens; a graph with {@code GroupQueryAttention}, which takes
 * several new tokens with a cache for one sample only, is probed with an empty cache unless a past length is given). An integer input that reaches the indices of a
 * {@code Gather} over a weight table (through shape-only ops such as Cast, Unsqueeze or Reshape) stays below the
 * table's row count; position ids count on from the cache ({@link DecoderInputs}); a legacy merged decoder's
 * {@code use_cache_branch} is true when the cache is not empty; other integer and bool inputs (attention masks, for
 * example) get ones.
 */
public final class ProbeInputs {
    private static final Set<String> SHAPE_ONLY = Set.of("Cast", "Identity", "Unsqueeze", "Squeeze", "Reshape",
            "Flatten", "Expand", "Transpose");

    private ProbeInputs() {
    }

    /**
     * One batch of probe inputs for {@code model}, by input name.
     *
     * @throws VerificationException naming the model and input if an input is not a tensor of float32, float16,
     *                               bfloat16, float64, int64, int32 or bool
     */
    public static Map<String, ModelRunner.Input> of(OnnxModel model, ProbeOptions options) {
        Set<String> initializers = new HashSet<>();
        model.proto().getGraph().getInitializerList().forEach(t -> initializers.add(t.getName()));
        Random random = new Random(options.seed());
        SymbolicDims sizes = options.symbolicDims();
        boolean pastGiven = options.dims().keySet().stream().anyMatch(d -> d.toLowerCase(java.util.Locale.ROOT)
                .contains("past"));
        if (!pastGiven && model.proto().getGraph().getNodeList().stream()
                .anyMatch(n -> n.getOpType().equals("GroupQueryAttention"))) {
            // GroupQueryAttention takes several new tokens with a cache for one sample only: probe the prompt
            sizes = new SymbolicDims(sizes.batch(), sizes.length(), 0, options.dims());
        }
        Map<String, ModelRunner.Input> out = new LinkedHashMap<>();
        for (ValueInfoProto in : model.proto().getGraph().getInputList()) {
            if (initializers.contains(in.getName())) {
                continue;
            }
            if (!in.getType().hasTensorType()) {
                throw new VerificationException(model.file(), in.getName(), "input is not a tensor; Graft probes "
                        + "tensors only", null);
            }
            long[] shape = sizes.shape(in);
            int count = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
            ElementType type = ElementType.fromCode(in.getType().getTensorType().getElemType(), model.file(),
                    in.getName());
            String name = in.getName();
            if (type.isFloatingPoint()) {
                float[] v = new float[count];
                for (int i = 0; i < count; i++) {
                    v[i] = (float) random.nextGaussian();
                }
                out.put(name, ModelRunner.Input.of(type, v, shape));
            } else if (type == ElementType.INT64 || type == ElementType.INT32 || type == ElementType.BOOL) {
                long[] v = DecoderInputs.counted(name, shape, sizes);
                if (v == null) {
                    OptionalLong bound = type == ElementType.BOOL ? OptionalLong.empty() : indexBound(model, name);
                    v = new long[count];
                    for (int i = 0; i < count; i++) {
                        v[i] = bound.isPresent() ? (long) (random.nextDouble() * bound.getAsLong()) : 1;
                    }
                }
                out.put(name, ModelRunner.Input.ofLongs(type, v, shape));
            } else {
                throw new VerificationException(model.file(), name, "input of type " + type.displayName()
                        + " (Graft probes float32, float16, bfloat16, float64, int32, int64 and bool inputs)", null);
            }
        }
        return out;
    }

    /** The exclusive upper bound for an integer input's values, if it indexes a table. */
    private static OptionalLong indexBound(OnnxModel model, String input) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            for (String in : n.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        long bound = Long.MAX_VALUE;
        Deque<String> todo = new ArrayDeque<>(List.of(input));
        Set<String> seen = new HashSet<>();
        while (!todo.isEmpty()) {
            String value = todo.pop();
            if (!seen.add(value)) {
                continue;
            }
            for (NodeProto n : consumers.getOrDefault(value, List.of())) {
                if (n.getOpType().equals("Gather") && n.getInputCount() == 2 && n.getInput(1).equals(value)) {
                    Weight table = model.weight(n.getInput(0)).orElse(null);
                    if (table != null && table.shape().length > 0) {
                        long axis = 0;
                        for (AttributeProto a : n.getAttributeList()) {
                            if (a.getName().equals("axis")) {
                                axis = a.getI();
                            }
                        }
                        long[] shape = table.shape();
                        int ax = (int) (axis < 0 ? axis + shape.length : axis);
                        if (ax >= 0 && ax < shape.length) {
                            bound = Math.min(bound, shape[ax]);
                        }
                    }
                } else if (SHAPE_ONLY.contains(n.getOpType()) && n.getInputCount() > 0 && n.getInput(0).equals(value)) {
                    todo.addAll(n.getOutputList());
                }
            }
        }
        return bound == Long.MAX_VALUE ? OptionalLong.empty() : OptionalLong.of(bound);
    }
}
