package dev.graft.verify;

import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.InvalidSettingException;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Sizes for a model's symbolic input dimensions, by name and by relation, so that a decoder's inputs agree with
 * each other. A dimension's name is read as a sum of terms ({@code past_sequence_length + sequence_length},
 * {@code past_sequence_length + 1}); each term is a number, a name given in {@code overrides}, or sized by what its
 * name says:
 * <ul>
 *   <li>a name with {@code past} in it: {@code past} (the tokens already in a KV cache);</li>
 *   <li>a name with {@code total} in it: {@code past + length} (an attention mask over cache and new tokens);</li>
 *   <li>{@code batch}, {@code batch_size}, {@code N}: {@code batch};</li>
 *   <li>any other name, and a dimension with no name: {@code batch} on axis 0, else {@code length} (the new
 *   tokens, or any other variable extent).</li>
 * </ul>
 * An override of {@code past_sequence_length}, {@code sequence_length} or {@code batch_size} (or their usual
 * spellings) also moves the sizes that relate to it: {@code --dim past_sequence_length=5} gives an attention mask of
 * {@code 5 + length}.
 */
public record SymbolicDims(int batch, int length, int past, Map<String, Long> overrides) {
    private static final List<String> BATCH = List.of("batch", "batch_size", "n", "b");
    private static final List<String> LENGTH = List.of("sequence_length", "seq_len", "sequence", "seq_length");

    public SymbolicDims {
        overrides = Map.copyOf(overrides);
        overrides.forEach((name, size) -> {
            if (size < 0) {
                throw new InvalidSettingException("dimension '" + name + "' cannot be " + size + " (0 or more)");
            }
        });
        for (Map.Entry<String, Long> o : overrides.entrySet()) {
            String name = o.getKey().strip().toLowerCase(Locale.ROOT);
            int size = Math.toIntExact(o.getValue());
            if (name.contains("past")) {
                past = size;
            } else if (BATCH.contains(name)) {
                batch = size;
            } else if (LENGTH.contains(name)) {
                length = size;
            }
        }
    }

    /** The concrete shape of graph input {@code in}: fixed dimensions as declared, symbolic ones sized here. */
    public long[] shape(ValueInfoProto in) {
        List<TensorShapeProto.Dimension> dims = in.getType().getTensorType().getShape().getDimList();
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            TensorShapeProto.Dimension d = dims.get(i);
            shape[i] = d.hasDimValue() && d.getDimValue() > 0 ? d.getDimValue()
                    : size(d.hasDimParam() ? d.getDimParam() : "", i);
        }
        return shape;
    }

    /** The size of a dimension named {@code name} (empty: unnamed) on axis {@code axis}. */
    public long size(String name, int axis) {
        Long whole = overrides.get(name);
        if (whole != null) {
            return whole;
        }
        if (name.isBlank()) {
            return axis == 0 ? batch : length;
        }
        long sum = 0;
        for (String term : name.split("\\+")) {
            sum += term(term.strip(), axis);
        }
        return sum;
    }

    private long term(String term, int axis) {
        if (term.chars().allMatch(Character::isDigit) && !term.isEmpty()) {
            return Long.parseLong(term);
        }
        Long given = overrides.get(term);
        if (given != null) {
            return given;
        }
        String lower = term.toLowerCase(Locale.ROOT);
        if (lower.contains("past")) {
            return past;
        }
        if (lower.contains("total")) {
            return (long) past + length;
        }
        if (BATCH.contains(lower)) {
            return batch;
        }
        return axis == 0 ? batch : length;
    }
}
