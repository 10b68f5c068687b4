package dev.graft.adapters;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes safetensors files ({@link Safetensors} reads them): tensors in the order given, each encoded in its
 * element type (float32, float16, bfloat16 or float64), the JSON header padded with spaces to a multiple of 8
 * bytes, written to a temporary file beside the target and moved into place, so a failure leaves no file.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<ElementType, String> DTYPES = Map.of(ElementType.FLOAT, "F32", ElementType.FLOAT16,
            "F16", ElementType.BFLOAT16, "BF16", ElementType.DOUBLE, "F64");

    /** A tensor to write: row-major values, stored as {@code type}. */
    public record Tensor(String name, ElementType type, long[] shape, float[] values) {
        /** A float32 tensor. */
        public static Tensor of(String name, long[] shape, float[] values) {
            return new Tensor(name, ElementType.FLOAT, shape, values);
        }
    }

    private SafetensorsWriter() {
    }

    /** Writes {@code tensors} and {@code metadata} (may be empty) to {@code target}. */
    public static void write(Path target, Map<String, String> metadata, List<Tensor> tensors) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        Set<String> names = new HashSet<>();
        long offset = 0;
        for (Tensor t : tensors) {
            String dtype = DTYPES.get(t.type());
            if (dtype == null) {
                throw new IllegalArgumentException("tensor '" + t.name() + "': safetensors adapters hold float32, "
                        + "float16, bfloat16 or float64, not " + t.type().displayName());
            }
            if (t.name().equals("__metadata__") || !names.add(t.name())) {
                throw new IllegalArgumentException("tensor name '" + t.name() + "' is reserved or repeated");
            }
            long count = Arrays.stream(t.shape()).reduce(1, Math::multiplyExact);
            if (count != t.values().length) {
                throw new IllegalArgumentException("tensor '" + t.name() + "' has " + t.values().length
                        + " values for shape " + Arrays.toString(t.shape()));
            }
            ObjectNode e = header.putObject(t.name());
            e.put("dtype", dtype);
            Arrays.stream(t.shape()).forEach(e.putArray("shape")::add);
            long end = offset + t.type().byteLength(count);
            e.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json;
        try {
            json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        AtomicFile.write(target, out -> {
            AtomicFile.writeFully(out, head);
            for (Tensor t : tensors) {
                AtomicFile.writeFully(out, FloatCodec.encode(t.type(), t.values()));
            }
        });
    }
}
