package dev.graft.exec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Reuses large arrays across tensors instead of allocating (and zeroing, and collecting) new ones: models
 * repeat the same shapes layer after layer, so arrays are kept by exact length. Holds at most {@code capBytes}
 * of idle arrays; beyond that, released arrays are left to the garbage collector. Thread-safe. Arrays handed
 * out are not cleared: callers overwrite them.
 */
public final class ArrayPool {
    private final long capBytes;
    private final Map<Integer, ArrayDeque<float[]>> floats = new HashMap<>();
    private final Map<Integer, ArrayDeque<ByteBuffer>> buffers = new HashMap<>();
    private long idleBytes;

    public ArrayPool(long capBytes) {
        this.capBytes = capBytes;
    }

    /** A float array of exactly {@code length} (contents undefined). */
    public synchronized float[] floats(int length) {
        ArrayDeque<float[]> q = floats.get(length);
        float[] a = q == null ? null : q.poll();
        if (a != null) {
            idleBytes -= 4L * length;
            return a;
        }
        return new float[length];
    }

    /** Gives an array back for reuse. */
    public synchronized void release(float[] a) {
        if (a != null && idleBytes + 4L * a.length <= capBytes) {
            floats.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a);
            idleBytes += 4L * a.length;
        }
    }

    /** A little-endian heap buffer of exactly {@code size} bytes, positioned at 0. */
    public synchronized ByteBuffer bytes(int size) {
        ArrayDeque<ByteBuffer> q = buffers.get(size);
        ByteBuffer b = q == null ? null : q.poll();
        if (b != null) {
            idleBytes -= size;
            return b.clear();
        }
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Gives a buffer from {@link #bytes} back for reuse. */
    public synchronized void release(ByteBuffer b) {
        if (b != null && b.hasArray() && idleBytes + b.capacity() <= capBytes) {
            buffers.computeIfAbsent(b.capacity(), k -> new ArrayDeque<>()).push(b);
            idleBytes += b.capacity();
        }
    }
}
