package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * One initializer to be written: its header (name, dims, element type, doc string) and a supplier of its
 * bytes in {@code raw_data} layout, called once, in output order, when the writer reaches it. Tensors held in
 * typed fields (and strings) are written verbatim.
 */
public final class OutputTensor {
    /** Supplies a tensor's little-endian bytes; may block (for example on a computation in progress). */
    @FunctionalInterface
    public interface Data {
        ByteBuffer get() throws Exception;
    }

    private final TensorProto header;
    private final ElementType type;
    private final long byteLength;
    private final Data data;
    private final Runnable afterWrite;
    private final boolean copy;
    private final FileRegion region;

    private OutputTensor(TensorProto header, ElementType type, long byteLength, Data data, Runnable afterWrite,
                         boolean copy, FileRegion region) {
        this.header = header;
        this.type = type;
        this.byteLength = byteLength;
        this.data = data;
        this.afterWrite = afterWrite;
        this.copy = copy;
        this.region = region;
    }

    /** A tensor of {@code type} and {@code dims} whose bytes {@code data} will supply. */
    public static OutputTensor of(String name, ElementType type, long[] dims, Data data) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.code());
        for (long d : dims) {
            b.addDims(d);
        }
        return new OutputTensor(b.build(), type, byteLength(type, dims), Objects.requireNonNull(data), () -> { },
                false, null);
    }

    /** A tensor like {@code like} (name, dims, doc string kept) stored as {@code type} from {@code data}. */
    public static OutputTensor like(Weight like, ElementType type, Data data) {
        TensorProto header = stripData(like.proto()).toBuilder().setName(like.name()).setDataType(type.code()).build();
        return new OutputTensor(header, type, byteLength(type, like.shape()), Objects.requireNonNull(data), () -> { },
                false, null);
    }

    /**
     * The weight unchanged: its bytes are read from the source model when written (external data is moved
     * file to file by the kernel, without mapping it).
     */
    public static OutputTensor copyOf(Weight w) {
        if (w.storage() == Weight.Storage.TYPED) {
            return new OutputTensor(w.proto(), w.type(), w.byteLength(), null, () -> { }, true, null);
        }
        OutputTensor t = like(w, w.type(), w::bytes);
        return new OutputTensor(t.header, t.type, t.byteLength, t.data, t.afterWrite, true, w.externalRegion());
    }

    /** The same tensor with its bytes from {@code other} (for example a computation started ahead). */
    public OutputTensor withData(Data other) {
        if (verbatim()) {
            throw new IllegalStateException("tensor '" + name() + "' is written verbatim and has no data supplier");
        }
        return new OutputTensor(header, type, byteLength, Objects.requireNonNull(other), afterWrite, false, null);
    }

    /**
     * The same tensor, also calling {@code action} once its bytes are written (for example to free memory);
     * actions run in the order they were added.
     */
    public OutputTensor onWritten(Runnable action) {
        Runnable before = afterWrite;
        return new OutputTensor(header, type, byteLength, data, () -> {
            before.run();
            action.run();
        }, copy, region);
    }

    private static long byteLength(ElementType type, long[] dims) {
        long count = Arrays.stream(dims).reduce(1, Math::multiplyExact);
        return type.byteLength(count);
    }

    private static TensorProto stripData(TensorProto p) {
        return p.toBuilder().clearRawData().clearExternalData().clearDataLocation().clearFloatData()
                .clearInt32Data().clearInt64Data().clearDoubleData().clearUint64Data().clearStringData().build();
    }

    public String name() {
        return header.getName();
    }

    public ElementType type() {
        return type;
    }

    /** Bytes of data ({@code raw_data} layout); for verbatim tensors, their in-file size. */
    public long byteLength() {
        return byteLength;
    }

    /** True for an unchanged copy of a source weight: nothing to compute ahead of the writer. */
    public boolean isCopy() {
        return copy;
    }

    FileRegion region() {
        return region;
    }

    /** True if written exactly as a prepared proto (typed fields or strings): always inline. */
    public boolean verbatim() {
        return data == null;
    }

    TensorProto header() {
        return header;
    }

    public Data data() {
        return data;
    }

    void written() {
        afterWrite.run();
    }
}
