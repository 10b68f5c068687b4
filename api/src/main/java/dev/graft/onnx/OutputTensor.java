package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * One initializer to be written: its header (name, dims, element type, doc string) and where its data comes
 * from. A computed tensor supplies its values as float32 ({@link Values}, called once, on a worker thread when
 * computed in parallel) and the writer encodes them to the tensor's type (a floating-point type, or uint8 for
 * quantized codes given as the integers 0 to 255); a copy is a source weight's bytes,
 * unchanged; tensors held in typed fields (and strings) are written verbatim.
 */
public final class OutputTensor {
    /** Supplies a computed tensor's values in float32; may be expensive (it is the computation). */
    @FunctionalInterface
    public interface Values {
        float[] get() throws Exception;
    }

    /**
     * Produces a computed tensor's values a slice at a time, for tensors too large to hold whole: every entry is
     * handed to the sink once, in slices, in any order (the writer writes each slice at its place).
     */
    @FunctionalInterface
    public interface Slices {
        void produce(SliceSink sink) throws Exception;
    }

    /** Takes one slice: {@code values[from, from + count)} are entries {@code [first, first + count)}. */
    @FunctionalInterface
    public interface SliceSink {
        void accept(long first, float[] values, int from, int count);

        /**
         * The sink of tensor {@code name}, a {@linkplain #companionOf companion} whose entries this tensor's slices
         * produce too; by default one that drops them (when only this tensor's values are gathered).
         */
        default SliceSink companion(String name) {
            return (first, values, from, count) -> { };
        }
    }

    private final TensorProto header;
    private final ElementType type;
    private final long byteLength;
    private final Values values;
    private final Slices slices;
    private final Weight source;
    private final Runnable afterWrite;
    private final String leader;

    private OutputTensor(TensorProto header, ElementType type, long byteLength, Values values, Slices slices,
                         Weight source, Runnable afterWrite, String leader) {
        this.header = header;
        this.type = type;
        this.byteLength = byteLength;
        this.values = values;
        this.slices = slices;
        this.source = source;
        this.afterWrite = afterWrite;
        this.leader = leader;
    }

    /** A floating-point tensor of {@code type} and {@code dims} computed by {@code values}. */
    public static OutputTensor of(String name, ElementType type, long[] dims, Values values) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.code());
        for (long d : dims) {
            b.addDims(d);
        }
        return computed(b.build(), type, dims, values);
    }

    /** A tensor like {@code like} (name, dims, doc string kept) stored as {@code type}, computed by {@code values}. */
    public static OutputTensor like(Weight like, ElementType type, Values values) {
        TensorProto header = stripData(like.proto()).toBuilder().setName(like.name()).setDataType(type.code()).build();
        return computed(header, type, like.shape(), values);
    }

    private static OutputTensor computed(TensorProto header, ElementType type, long[] dims, Values values) {
        if (!type.isFloatingPoint() && type != ElementType.UINT8) {
            throw new IllegalArgumentException("tensor '" + header.getName() + "': computed tensors are floating "
                    + "point or uint8 (quantized codes), not " + type.displayName());
        }
        return new OutputTensor(header, type, byteLength(type, dims), Objects.requireNonNull(values), null, null,
                () -> { }, null);
    }

    /**
     * A tensor like {@code like} stored as {@code type} (floating point of whole bytes, or uint8 codes), produced
     * in slices by {@code slices}: never held whole when written. Its {@link #values()} gather the slices into one
     * array.
     */
    public static OutputTensor streamed(Weight like, ElementType type, Slices slices) {
        return streamed(stripData(like.proto()).toBuilder().setName(like.name()).setDataType(type.code()).build(),
                type, like.elementCount(), slices);
    }

    /** A tensor of {@code type} and {@code dims} produced in slices, as above. */
    public static OutputTensor streamed(String name, ElementType type, long[] dims, Slices slices) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.code());
        for (long d : dims) {
            b.addDims(d);
        }
        return streamed(b.build(), type, Arrays.stream(dims).reduce(1, Math::multiplyExact), slices);
    }

    private static OutputTensor streamed(TensorProto header, ElementType type, long count, Slices slices) {
        if (!(type.isFloatingPoint() || type == ElementType.UINT8) || type.bits() % 8 != 0) {
            throw new IllegalArgumentException("tensor '" + header.getName() + "': streamed tensors are floating "
                    + "point of whole bytes or uint8 (quantized codes), not " + type.displayName());
        }
        Values whole = () -> {
            float[] all = new float[Math.toIntExact(count)];
            slices.produce((first, v, from, n) -> System.arraycopy(v, from, all, Math.toIntExact(first), n));
            return all;
        };
        return new OutputTensor(header, type, type.byteLength(count), whole, Objects.requireNonNull(slices), null,
                () -> { }, null);
    }

    /**
     * A tensor like {@code like} stored as {@code type} whose entries streamed tensor {@code leader} produces along
     * with its own ({@link SliceSink#companion}): one computation writes both (a decoder's embedding table and its
     * tied copy for the head). The writer writes it as the leader's job runs; its {@link #values()} run the
     * leader's computation again and keep this tensor's entries.
     */
    public static OutputTensor companionOf(OutputTensor leader, Weight like, ElementType type) {
        if (leader.slices == null) {
            throw new IllegalArgumentException("tensor '" + like.name() + "': its leader '" + leader.name()
                    + "' is not streamed");
        }
        TensorProto header = stripData(like.proto()).toBuilder().setName(like.name()).setDataType(type.code()).build();
        long count = like.elementCount();
        Values whole = () -> {
            float[] all = new float[Math.toIntExact(count)];
            leader.slices.produce(new SliceSink() {
                @Override
                public void accept(long first, float[] v, int from, int n) {
                }

                @Override
                public SliceSink companion(String name) {
                    return name.equals(like.name())
                            ? (first, v, from, n) -> System.arraycopy(v, from, all, Math.toIntExact(first), n)
                            : SliceSink.super.companion(name);
                }
            });
            return all;
        };
        return new OutputTensor(header, type, type.byteLength(count), whole, null, null, () -> { }, leader.name());
    }

    /**
     * The weight unchanged: its bytes are read from the source model when written (external data is moved
     * file to file by the kernel, without mapping it); typed fields are written verbatim.
     */
    public static OutputTensor copyOf(Weight w) {
        TensorProto header = w.storage() == Weight.Storage.TYPED ? w.proto()
                : stripData(w.proto()).toBuilder().setName(w.name()).build();
        return new OutputTensor(header, w.type(), w.byteLength(), null, null, w, () -> { }, null);
    }

    /** The same tensor under another name. */
    public OutputTensor named(String name) {
        return new OutputTensor(header.toBuilder().setName(name).build(), type, byteLength, values, slices, source,
                afterWrite, leader);
    }

    /**
     * The same tensor, also calling {@code action} once its bytes are written (for example to free memory);
     * actions run in the order they were added.
     */
    public OutputTensor onWritten(Runnable action) {
        Runnable before = afterWrite;
        return new OutputTensor(header, type, byteLength, values, slices, source, () -> {
            before.run();
            action.run();
        }, leader);
    }

    /**
     * A computed tensor's float32 values without writing them (a copy: the computation may hand out a pooled
     * array), after which whatever the computation held is released, as after a write. For results evaluated in
     * memory.
     *
     * @throws Exception whatever the computation throws
     */
    public float[] computeCopy() throws Exception {
        float[] v = values.get();
        float[] copy = Arrays.copyOf(v, (int) (byteLength * 8 / type.bits()));
        afterWrite.run();
        return copy;
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

    /** The tensor's shape. */
    public long[] dims() {
        return header.getDimsList().stream().mapToLong(Long::longValue).toArray();
    }

    /** Bytes of data ({@code raw_data} layout); for verbatim tensors, their in-file size. */
    public long byteLength() {
        return byteLength;
    }

    /** True for an unchanged copy of a source weight: the writer copies it, nothing is computed. */
    public boolean isCopy() {
        return source != null;
    }

    /** True if written exactly as a prepared proto (typed fields or strings): always inline. */
    public boolean verbatim() {
        return source != null && source.storage() == Weight.Storage.TYPED;
    }

    /** The computation of a computed tensor's values (null for copies). */
    public Values values() {
        return values;
    }

    /** For a {@linkplain #companionOf companion}, the name of the tensor whose slices write it; else null. */
    public String leader() {
        return leader;
    }

    /** The slices of a streamed tensor, or null. */
    public Slices slices() {
        return slices;
    }

    /** A copy's external data range, or null when its bytes are inside the source model file. */
    FileRegion region() {
        return source == null || verbatim() ? null : source.externalRegion();
    }

    /** A copy's bytes. */
    ByteBuffer sourceBytes() {
        return source.bytes();
    }

    TensorProto header() {
        return header;
    }

    void written() {
        afterWrite.run();
    }
}
