package dev.graft.onnx;

import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.nio.ByteBuffer;

/**
 * Reads a floating-point weight's values as float32 (or a uint8 weight's bytes as stored), in order, a range at
 * a time, so that a computation can use each range while it is still in cache. Values are decoded straight from where the bytes are: the
 * memory-mapped model file, or mappings of at most 16 MiB of the external data file, each released as soon as
 * reading has passed it (one copy of the bytes, and the mapped pages do not stay resident).
 */
public final class WeightReader implements AutoCloseable {
    private static final long WINDOW_BYTES = 16L << 20;
    private final Weight weight;
    private final ElementType type;
    private final int width;
    private final boolean external;
    private ByteBuffer window;
    private long windowStart;
    private long windowEnd;
    private long next;

    WeightReader(Weight weight) {
        this.weight = weight;
        this.type = weight.type();
        this.width = type.bits() / 8;
        this.external = weight.storage() == Weight.Storage.EXTERNAL;
        if (!external) {
            window = weight.bytes();
            windowEnd = weight.elementCount();
        }
    }

    /** Values not read yet. */
    public long remaining() {
        return weight.elementCount() - next;
    }

    /** Reads the next {@code count} values into {@code dst[at, at + count)}. */
    public void read(float[] dst, int at, int count) {
        forEachWindow(count, (value, to, n) -> FloatCodec.decode(type, window.position(value * width), dst, to, n), at);
    }

    /**
     * Reads the next {@code count} values of a tensor of one-byte elements (uint8 quantized codes, packed zero
     * points) into {@code dst[at, at + count)}, as stored.
     */
    public void readBytes(byte[] dst, int at, int count) {
        if (width != 1) {
            throw new IllegalArgumentException("tensor '" + weight.name() + "' is " + type.displayName()
                    + ", not of one-byte elements");
        }
        forEachWindow(count, (value, to, n) -> window.duplicate().position(value).get(dst, to, n), at);
    }

    /** Reads a run of {@code n} values from value {@code value} of the current window into {@code [to, to + n)}. */
    private interface Run {
        void read(int value, int to, int n);
    }

    /** The next {@code count} values, a window at a time, each run read into the destination from {@code at}. */
    private void forEachWindow(int count, Run run, int at) {
        if (count > remaining()) {
            throw new IllegalArgumentException("tensor '" + weight.name() + "': " + count + " values asked, "
                    + remaining() + " left");
        }
        while (count > 0) {
            if (next == windowEnd) {
                mapNextWindow();
            }
            int n = (int) Math.min(count, windowEnd - next);
            run.read((int) (next - windowStart), at, n);
            next += n;
            at += n;
            count -= n;
        }
    }

    private void mapNextWindow() {
        release();
        long values = Math.min(WINDOW_BYTES / width, weight.elementCount() - next);
        window = weight.externalWindow(next * width, values * width);
        windowStart = next;
        windowEnd = next + values;
    }

    private void release() {
        if (external && window != null && Unmapper.available()) {
            Unmapper.unmap(window); // nothing else holds this mapping
        }
        window = null;
    }

    @Override
    public void close() {
        release();
    }
}
