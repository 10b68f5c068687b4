package dev.graft.adapters;

import com.google.flatbuffers.FlatBufferBuilder;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * ONNX Runtime's LoRA adapter file ({@code .onnx_adapter}, loaded by {@code OrtLoraAdapter} and activated per run
 * with {@code RunOptions.addActiveLoraAdapter}): a FlatBuffers table {@code Adapter {format_version,
 * adapter_version, model_version, parameters: [Parameter {name, dims, data_type, raw_data}]}} with file identifier
 * {@code TORT} (schema {@code onnxruntime/lora/adapter_format/adapter_schema.fbs}, format version 1). Each
 * parameter's name is the model input it overrides; data is float32, little-endian, 8-byte aligned.
 *
 * <p>{@link #read} reads such a file (Graft's, or one from Olive's {@code convert-adapters}, float32 or float16) by
 * the FlatBuffers layout itself, checking every offset and length against the file's size before following it:
 * FlatBuffers' Java runtime has no verifier, and adapter files come from strangers.
 */
public final class OnnxAdapterFile {
    /** The format version ONNX Runtime reads. */
    static final int FORMAT_VERSION = 1;

    /** One parameter: the input it replaces, its shape and row-major values. */
    public record Parameter(String name, long[] dims, float[] values) {
    }

    private OnnxAdapterFile() {
    }

    /**
     * Reads the parameters of the adapter file {@code file}, as float32 values.
     *
     * @throws AdapterFormatException naming the file if it is not an ONNX Runtime adapter of format version 1, an
     *     offset or length falls outside it, or a parameter's data is not float32/float16 of its shape's size
     */
    public static List<Parameter> read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new AdapterFormatException(file, null, "does not exist", e);
        } catch (IOException e) {
            throw new AdapterFormatException(file, null, "cannot be read: " + e, e);
        }
        Reader r = new Reader(file, ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN));
        if (bytes.length < 8 || !new String(bytes, 4, 4, StandardCharsets.US_ASCII).equals("TORT")) {
            throw new AdapterFormatException(file, null, "is not an ONNX Runtime adapter file (no 'TORT' identifier)");
        }
        int root = r.target(0);
        long version = r.scalar(root, 0, 4);
        if (version != FORMAT_VERSION) {
            throw new AdapterFormatException(file, null, "has adapter format version " + version + "; Graft reads "
                    + FORMAT_VERSION);
        }
        List<Parameter> out = new ArrayList<>();
        int list = r.field(root, 3);
        int count = list < 0 ? 0 : r.vectorLength(list, 4);
        for (int p = 0; p < count; p++) {
            int param = r.target(list + 4 + 4 * p);
            int nameAt = r.field(param, 0);
            String name = nameAt < 0 ? "" : new String(bytes, nameAt + 4, r.vectorLength(nameAt, 1),
                    StandardCharsets.UTF_8);
            int dimsAt = r.field(param, 1);
            int rank = dimsAt < 0 ? 0 : r.vectorLength(dimsAt, 8);
            long[] dims = new long[rank];
            long size = 1;
            for (int d = 0; d < rank; d++) {
                dims[d] = r.buffer.getLong(dimsAt + 4 + 8 * d);
                if (dims[d] < 0 || dims[d] > Integer.MAX_VALUE) {
                    throw new AdapterFormatException(file, name, "has dimension " + dims[d]);
                }
                size *= dims[d];
                if (size > Integer.MAX_VALUE) {
                    throw new AdapterFormatException(file, name, "has more than 2³¹ elements");
                }
            }
            int type = (int) r.scalar(param, 2, 4);
            ElementType element = type == ElementType.FLOAT.code() ? ElementType.FLOAT
                    : type == ElementType.FLOAT16.code() ? ElementType.FLOAT16 : null;
            if (element == null) {
                throw new AdapterFormatException(file, name, "has data type " + type + "; Graft reads float32 (1) "
                        + "and float16 (10) adapter weights");
            }
            int dataAt = r.field(param, 3);
            int length = dataAt < 0 ? 0 : r.vectorLength(dataAt, 1);
            if (length != element.byteLength(size)) {
                throw new AdapterFormatException(file, name, "holds " + length + " bytes but its shape "
                        + java.util.Arrays.toString(dims) + " of " + element.displayName() + " needs "
                        + element.byteLength(size));
            }
            float[] values = new float[(int) size];
            FloatCodec.decode(element, ByteBuffer.wrap(bytes, dataAt + 4, length).slice(), values);
            out.add(new Parameter(name, dims, values));
        }
        return out;
    }

    /** FlatBuffers' layout, each offset checked against the buffer before it is followed. */
    private record Reader(Path file, ByteBuffer buffer) {
        /** The position an unsigned offset stored at {@code at} points to. */
        int target(int at) {
            return inside(at + u32(at), 0);
        }

        /** The position of field {@code field} of the table at {@code table}, or -1 when it is absent. */
        int slot(int table, int field) {
            int vtable = inside(table - (long) buffer.getInt(inside(table, 4)), 4);
            int vtableSize = Short.toUnsignedInt(buffer.getShort(vtable));
            int entry = 4 + 2 * field;
            if (entry + 2 > vtableSize) {
                return -1;
            }
            int offset = Short.toUnsignedInt(buffer.getShort(inside(vtable + (long) entry, 2)));
            return offset == 0 ? -1 : inside(table + (long) offset, 0);
        }

        /** A scalar field of {@code bytes} bytes (0 when absent, FlatBuffers' default). */
        long scalar(int table, int field, int bytes) {
            int at = slot(table, field);
            return at < 0 ? 0 : bytes == 4 ? buffer.getInt(inside(at, 4)) : buffer.getLong(inside(at, 8));
        }

        /** The position of the vector, string or table an offset field points to, or -1 when it is absent. */
        int field(int table, int field) {
            int at = slot(table, field);
            return at < 0 ? -1 : target(inside(at, 4));
        }

        /** The length of the vector at {@code at} whose elements take {@code element} bytes, checked to fit. */
        int vectorLength(int at, int element) {
            long length = u32(at);
            inside(at + 4 + length * element, 0);
            return (int) length;
        }

        private long u32(int at) {
            return Integer.toUnsignedLong(buffer.getInt(inside(at, 4)));
        }

        /** {@code at}, if {@code [at, at + bytes)} lies in the buffer. */
        private int inside(long at, int bytes) {
            if (at < 0 || at + bytes > buffer.capacity()) {
                throw new AdapterFormatException(file, null, "is truncated or corrupt: an offset points to byte "
                        + at + " of " + buffer.capacity());
            }
            return (int) at;
        }
    }

    /** Writes {@code parameters} to {@code target} (through a temporary file moved into place). */
    public static void write(Path target, int adapterVersion, List<Parameter> parameters) {
        FlatBufferBuilder fb = new FlatBufferBuilder(1024);
        int[] offsets = new int[parameters.size()];
        for (int p = 0; p < offsets.length; p++) {
            Parameter param = parameters.get(p);
            int name = fb.createString(param.name());
            fb.startVector(8, param.dims().length, 8);
            for (int i = param.dims().length - 1; i >= 0; i--) {
                fb.addLong(param.dims()[i]);
            }
            int dims = fb.endVector();
            ByteBuffer raw = ByteBuffer.allocate(4 * param.values().length).order(ByteOrder.LITTLE_ENDIAN);
            raw.asFloatBuffer().put(param.values());
            fb.startVector(1, raw.capacity(), 8); // force_align: 8
            for (int i = raw.capacity() - 1; i >= 0; i--) {
                fb.addByte(raw.get(i));
            }
            int data = fb.endVector();
            fb.startTable(4);
            fb.addOffset(3, data, 0);
            fb.addOffset(1, dims, 0);
            fb.addOffset(0, name, 0);
            fb.addInt(2, ElementType.FLOAT.code(), 0);
            offsets[p] = fb.endTable();
        }
        fb.startVector(4, offsets.length, 4);
        for (int p = offsets.length - 1; p >= 0; p--) {
            fb.addOffset(offsets[p]);
        }
        int list = fb.endVector();
        fb.startTable(4);
        fb.addOffset(3, list, 0);
        fb.addInt(0, FORMAT_VERSION, 0);
        fb.addInt(1, adapterVersion, 0);
        fb.addInt(2, 0, 0);
        int root = fb.endTable();
        fb.finish(root, "TORT");
        byte[] bytes = fb.sizedByteArray();
        AtomicFile.write(target, out -> AtomicFile.writeFully(out, ByteBuffer.wrap(bytes)));
    }
}
