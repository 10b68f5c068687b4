package dev.graft.adapters;

import dev.graft.GraftIoException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A safetensors file, read strictly (the format of Hugging Face's {@code safetensors}): an 8-byte little-endian
 * header length {@code n}, {@code n} bytes of JSON mapping each tensor name to its {@code dtype}, {@code shape}
 * and {@code data_offsets [begin, end)} relative to the data that follows (plus an optional
 * {@code __metadata__} map of strings), then the data. Checked on opening, each violation an
 * {@link AdapterFormatException} naming the file and tensor: the header lies inside the file and is a JSON
 * object of such entries; dtypes are F32, F16, BF16 or F64; each tensor's byte length is its shape's element
 * count times the dtype's width; offsets lie inside the data, do not overlap, and cover it without holes.
 * Tensors are read from a read-only mapping of the data.
 */
public final class Safetensors implements AutoCloseable {
    /** Headers above this size are refused (as the reference implementation does). */
    static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, ElementType> DTYPES = Map.of("F32", ElementType.FLOAT, "F16",
            ElementType.FLOAT16, "BF16", ElementType.BFLOAT16, "F64", ElementType.DOUBLE);

    /** One tensor's entry: element type, shape, and byte range within the data. */
    public record Entry(String name, ElementType type, long[] shape, long begin, long end) {
        /** The number of elements. */
        public long count() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private Safetensors(Path file, FileChannel channel, long dataStart, Map<String, Entry> entries,
                        Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Opens and checks {@code file}. */
    public static Safetensors open(Path file) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new GraftIoException(file, "read", e);
        }
        try {
            long size = channel.size();
            if (size < 8) {
                throw new AdapterFormatException(file, null, "is " + size + " bytes, shorter than the 8-byte header "
                        + "length of a safetensors file");
            }
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, length, 0);
            long n = length.getLong(0);
            if (n < 2 || n > size - 8 || n > MAX_HEADER) {
                throw new AdapterFormatException(file, null, "declares a header of " + Long.toUnsignedString(n)
                        + " bytes; the file has " + (size - 8) + " after the length (and headers are at most "
                        + MAX_HEADER + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(channel, header, 8);
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, Entry> entries = parse(file, new String(header.array(), StandardCharsets.UTF_8), metadata,
                    size - 8 - n);
            return new Safetensors(file, channel, 8 + n, entries, Collections.unmodifiableMap(metadata));
        } catch (IOException e) {
            close(channel);
            throw new GraftIoException(file, "read", e);
        } catch (RuntimeException e) {
            close(channel);
            throw e;
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer dst, long at) throws IOException {
        long position = at;
        while (dst.hasRemaining()) {
            int read = channel.read(dst, position);
            if (read < 0) {
                throw new IOException("unexpected end of file at byte " + position);
            }
            position += read;
        }
    }

    private static Map<String, Entry> parse(Path file, String text, Map<String, String> metadata, long dataSize) {
        JsonNode root;
        try {
            root = JSON.readTree(text.stripTrailing());
        } catch (JsonProcessingException e) {
            throw new AdapterFormatException(file, null, "has a header that is not valid JSON: "
                    + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new AdapterFormatException(file, null, "has a header that is not a JSON object");
        }
        List<Entry> list = new ArrayList<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals("__metadata__")) {
                readMetadata(file, field.getValue(), metadata);
            } else {
                list.add(entry(file, field.getKey(), field.getValue(), dataSize));
            }
        }
        list.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long covered = 0;
        for (Entry e : list) {
            if (e.begin() < covered) {
                throw new AdapterFormatException(file, e.name(), "data [" + e.begin() + ", " + e.end()
                        + ") overlaps the tensor before it, which ends at " + covered);
            }
            if (e.begin() > covered) {
                throw new AdapterFormatException(file, e.name(), "data starts at " + e.begin() + ", leaving bytes ["
                        + covered + ", " + e.begin() + ") that no tensor holds");
            }
            covered = e.end();
        }
        if (covered != dataSize) {
            throw new AdapterFormatException(file, null, "has " + dataSize + " bytes of data but its tensors hold "
                    + covered);
        }
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Entry e : list) {
            out.put(e.name(), e);
        }
        return Collections.unmodifiableMap(out);
    }

    private static void readMetadata(Path file, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw new AdapterFormatException(file, null, "__metadata__ must be a map of strings");
        }
        for (Map.Entry<String, JsonNode> m : node.properties()) {
            if (!m.getValue().isTextual()) {
                throw new AdapterFormatException(file, null, "__metadata__." + m.getKey() + " must be a string");
            }
            metadata.put(m.getKey(), m.getValue().asText());
        }
    }

    private static Entry entry(Path file, String name, JsonNode node, long dataSize) {
        if (!node.isObject()) {
            throw new AdapterFormatException(file, name, "expected {dtype, shape, data_offsets}, got " + node);
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets")) {
                throw new AdapterFormatException(file, name, "unknown key '" + key + "' (known: dtype, shape, "
                        + "data_offsets)");
            }
        }
        JsonNode dtype = node.get("dtype");
        if (dtype == null || !dtype.isTextual()) {
            throw new AdapterFormatException(file, name, "needs a dtype");
        }
        ElementType type = DTYPES.get(dtype.asText());
        if (type == null) {
            throw new AdapterFormatException(file, name, "has dtype " + dtype.asText() + "; Graft reads F32, F16, "
                    + "BF16 and F64 adapters");
        }
        long[] shape = longs(file, name, node.get("shape"), "shape", -1);
        long[] offsets = longs(file, name, node.get("data_offsets"), "data_offsets", 2);
        if (offsets[0] > offsets[1] || offsets[1] > dataSize) {
            throw new AdapterFormatException(file, name, "data_offsets " + Arrays.toString(offsets) + " are not a "
                    + "range inside the " + dataSize + " bytes of data");
        }
        long count = 1;
        try {
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            Math.multiplyExact(count, 8L);
        } catch (ArithmeticException e) {
            throw new AdapterFormatException(file, name, "shape " + Arrays.toString(shape) + " overflows");
        }
        if (type.byteLength(count) != offsets[1] - offsets[0]) {
            throw new AdapterFormatException(file, name, "shape " + Arrays.toString(shape) + " of " + dtype.asText()
                    + " needs " + type.byteLength(count) + " bytes; data_offsets give " + (offsets[1] - offsets[0]));
        }
        return new Entry(name, type, shape, offsets[0], offsets[1]);
    }

    private static long[] longs(Path file, String name, JsonNode node, String key, int size) {
        if (node == null || !node.isArray() || size >= 0 && node.size() != size) {
            throw new AdapterFormatException(file, name, key + " must be a list" + (size >= 0 ? " of " + size : "")
                    + " of non-negative integers");
        }
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.canConvertToExactIntegral() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new AdapterFormatException(file, name, key + " must hold non-negative integers, got " + v);
            }
            out[i] = v.asLong();
        }
        return out;
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** The tensors, in the order of their data. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** The {@code __metadata__} map (empty if none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensor {@code name}'s entry, if present. */
    public Optional<Entry> entry(String name) {
        return Optional.ofNullable(entries.get(name));
    }

    /** Tensor {@code name}'s values as float32 (row-major). */
    public float[] floats(String name) {
        Entry e = entry(name).orElseThrow(() -> new AdapterFormatException(file, name, "is not in the file"));
        if (e.count() > Integer.MAX_VALUE - 8) {
            throw new AdapterFormatException(file, name, "has " + e.count() + " elements, too many for one array");
        }
        float[] out = new float[(int) e.count()];
        if (out.length == 0) {
            return out;
        }
        try {
            MappedByteBuffer data = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + e.begin(),
                    e.end() - e.begin());
            FloatCodec.decode(e.type(), data, out);
        } catch (IOException x) {
            throw new GraftIoException(file, "read", x);
        }
        return out;
    }

    @Override
    public void close() {
        close(channel);
    }

    private static void close(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only: nothing to lose
        }
    }
}
