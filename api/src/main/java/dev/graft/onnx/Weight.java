package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.ModelFormatException;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * One weight of a model: an initializer or the tensor of a {@code Constant} node, in the main graph or a
 * subgraph. It knows its name, element type and shape, and where its bytes are; the bytes stay where they
 * are ({@code raw_data} in the memory-mapped model file, or a range of an external data file) until
 * {@link #bytes()} or {@link #toFloats()} materialises them.
 */
public final class Weight {
    /** Where in the graph the weight is declared. */
    public enum Origin {
        /** A graph initializer. */
        INITIALIZER,
        /** The {@code value} attribute of a {@code Constant} node; the weight's name is the node's output. */
        CONSTANT_NODE
    }

    /** How the bytes are stored in the file. */
    public enum Storage {
        /** {@code raw_data}, inside the model file. */
        RAW,
        /** Typed fields such as {@code float_data} or {@code int32_data}, inside the model file. */
        TYPED,
        /** A range of an external data file. */
        EXTERNAL
    }

    private final OnnxModel model;
    private final TensorProto proto;
    private final String name;
    private final String scope;
    private final Origin origin;
    private final ElementType type;
    private final long[] shape;
    private final long elementCount;
    private final long byteLength;
    private final Storage storage;
    private final Path externalFile;
    private final long externalOffset;

    Weight(OnnxModel model, ExternalDataFiles files, TensorProto proto, String name, String scope, Origin origin) {
        Path file = model.file();
        this.model = model;
        this.proto = proto;
        this.name = name;
        this.scope = scope;
        this.origin = origin;
        this.type = ElementType.fromCode(proto.getDataType(), file, name);
        this.shape = proto.getDimsList().stream().mapToLong(Long::longValue).toArray();
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new ModelFormatException(file, name, "negative dimension in dims " + Arrays.toString(shape));
            }
            try {
                count = Math.multiplyExact(count, d);
            } catch (ArithmeticException e) {
                throw new ModelFormatException(file, name,
                        "dims " + Arrays.toString(shape) + " overflow a 64-bit element count");
            }
        }
        this.elementCount = count;
        long bytes = type.byteLength(count);
        if (type != ElementType.STRING && bytes < 0) {
            throw new ModelFormatException(file, name,
                    "dims " + Arrays.toString(shape) + " overflow a 64-bit byte count");
        }
        this.byteLength = bytes;

        if (proto.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            this.storage = Storage.EXTERNAL;
            String location = null;
            long offset = 0;
            long length = -1;
            for (StringStringEntryProto e : proto.getExternalDataList()) {
                switch (e.getKey()) {
                    case "location": location = e.getValue(); break;
                    case "offset": offset = parseNonNegative(file, name, "offset", e.getValue()); break;
                    case "length": length = parseNonNegative(file, name, "length", e.getValue()); break;
                    default: break; // 'checksum' and unknown keys are informational
                }
            }
            if (type == ElementType.STRING) {
                throw new ModelFormatException(file, name, "string tensors cannot be stored as external data");
            }
            this.externalFile = files.resolve(location, name);
            long fileSize = files.size(externalFile, name);
            if (length < 0) {
                length = fileSize - offset;
            }
            if (length != byteLength) {
                throw new ModelFormatException(file, name, "external data length " + length + " does not match "
                        + type.displayName() + " dims " + Arrays.toString(shape) + " (expected " + byteLength
                        + " bytes)");
            }
            if (offset > fileSize || length > fileSize - offset) {
                throw new ModelFormatException(file, name, "external data range offset " + offset + " + length "
                        + length + " lies beyond the end of '" + location + "' (" + fileSize + " bytes)");
            }
            this.externalOffset = offset;
        } else {
            this.externalFile = null;
            this.externalOffset = 0;
            if (!proto.getRawData().isEmpty() || (count == 0 && typedCount(proto, type) == 0)) {
                this.storage = Storage.RAW;
                if (type == ElementType.STRING) {
                    throw new ModelFormatException(file, name, "string tensor with raw_data");
                }
                if (proto.getRawData().size() != byteLength) {
                    throw new ModelFormatException(file, name, "raw_data holds " + proto.getRawData().size()
                            + " bytes but " + type.displayName() + " dims " + Arrays.toString(shape) + " need "
                            + byteLength);
                }
            } else {
                this.storage = Storage.TYPED;
                long expected = expectedTypedCount(type, count);
                long present = typedCount(proto, type);
                if (present != expected) {
                    throw new ModelFormatException(file, name, "holds " + present + " values in its typed field but "
                            + type.displayName() + " dims " + Arrays.toString(shape) + " need " + expected);
                }
            }
        }
    }

    private static long parseNonNegative(Path file, String tensor, String key, String value) {
        try {
            long v = Long.parseLong(value.trim());
            if (v >= 0) {
                return v;
            }
        } catch (NumberFormatException e) {
            // fall through to the error below
        }
        throw new ModelFormatException(file, tensor,
                "external data '" + key + "' is '" + value + "' (expected a non-negative integer)");
    }

    private static long expectedTypedCount(ElementType type, long count) {
        switch (type) {
            case COMPLEX64: case COMPLEX128: return 2 * count;
            case UINT4: case INT4: case FLOAT4E2M1: return (count + 1) / 2;
            default: return count;
        }
    }

    private static long typedCount(TensorProto p, ElementType type) {
        switch (type) {
            case FLOAT: case COMPLEX64: return p.getFloatDataCount();
            case DOUBLE: case COMPLEX128: return p.getDoubleDataCount();
            case INT64: return p.getInt64DataCount();
            case UINT32: case UINT64: return p.getUint64DataCount();
            case STRING: return p.getStringDataCount();
            default: return p.getInt32DataCount();
        }
    }

    /** The model this weight belongs to. */
    public OnnxModel model() {
        return model;
    }

    /** The name by which nodes refer to this weight. */
    public String name() {
        return name;
    }

    /** Empty for the main graph; otherwise the path of the subgraph, e.g. {@code loop_1/body}. */
    public String scope() {
        return scope;
    }

    public Origin origin() {
        return origin;
    }

    public Storage storage() {
        return storage;
    }

    public ElementType type() {
        return type;
    }

    /** The dims, outermost first (a copy). */
    public long[] shape() {
        return shape.clone();
    }

    public long elementCount() {
        return elementCount;
    }

    /** Size of the data in {@code raw_data} form; -1 for string tensors. */
    public long byteLength() {
        return byteLength;
    }

    /** The tensor as declared in the file (for external data, without the data). */
    public TensorProto proto() {
        return proto;
    }

    /**
     * The data in {@code raw_data} layout: little-endian, read-only, positioned at 0. For {@code raw_data}
     * and external data this is a view of the memory-mapped file, not a copy.
     */
    public ByteBuffer bytes() {
        model.checkOpen();
        switch (storage) {
            case RAW:
                return proto.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
            case EXTERNAL:
                return model.externalData().map(externalFile, externalOffset, byteLength, name);
            default:
                return TypedFields.toRawData(model.file(), name, type, proto, elementCount);
        }
    }

    /** The external data range (file, offset, length), or null if the data is inside the model file. */
    FileRegion externalRegion() {
        return storage == Storage.EXTERNAL ? new FileRegion(externalFile, externalOffset, byteLength) : null;
    }

    /** The values as float32; only for floating-point weights. */
    public float[] toFloats() {
        checkFloatArray();
        float[] out = new float[(int) elementCount];
        readFloats(out);
        return out;
    }

    /** Reads the values as float32 into {@code dst}, which must have {@link #elementCount()} entries. */
    public void readFloats(float[] dst) {
        if (dst.length != elementCount) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + elementCount + " values, not " + dst.length);
        }
        try (WeightReader r = reader()) {
            r.read(dst, 0, dst.length);
        }
    }

    /**
     * A reader of the values as float32, in order, a range at a time; for floating-point weights, and for uint8
     * ones (quantized codes) read as stored ({@link WeightReader#readBytes}).
     */
    public WeightReader reader() {
        if (type != ElementType.UINT8) {
            checkFloatArray();
        }
        model.checkOpen();
        return new WeightReader(this);
    }

    /** A fresh mapping of {@code length} bytes from {@code offset} of this weight's external data. */
    ByteBuffer externalWindow(long offset, long length) {
        model.checkOpen();
        return model.externalData().map(externalFile, externalOffset + offset, length, name);
    }

    private void checkFloatArray() {
        if (!type.isFloatingPoint()) {
            throw new IllegalStateException(model.file() + ": tensor '" + name + "' is " + type.displayName()
                    + ", not a floating-point tensor");
        }
        if (elementCount > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException(model.file(), name,
                    "has " + elementCount + " elements, more than a Java array holds");
        }
    }

    @Override
    public String toString() {
        return (scope.isEmpty() ? "" : scope + ":") + name + " " + type.displayName() + Arrays.toString(shape);
    }
}
