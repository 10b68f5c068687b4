package dev.graft.exec;

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
}
