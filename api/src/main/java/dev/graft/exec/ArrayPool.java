package dev.graft.exec;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Reuses large arrays across tensors instead of allocating (and zeroing, and collecting) new ones: models
 * repeat the same shapes layer after layer, so arrays are kept by exact length. Holds at most {@code capBytes}
 * of idle arrays, making room for the most recently released length by dropping others. Thread-safe. Arrays handed
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

    /**
     * Gives an array back for reuse. When it does not fit under the cap, idle arrays of other lengths are dropped
     * (the largest first) to make room: the length just released is the one the next tensors of the same shape
     * will ask for, while a one-off shape (an embedding table) would otherwise hold the pool.
     */
    public synchronized void release(float[] a) {
        if (a == null || 4L * a.length > capBytes) {
            return;
        }
        while (idleBytes + 4L * a.length > capBytes) {
            Integer largest = floats.keySet().stream().filter(n -> n != a.length && !floats.get(n).isEmpty())
                    .max(Integer::compare).orElse(null);
            if (largest == null) {
                return;
            }
            floats.get(largest).poll();
            idleBytes -= 4L * largest;
        }
        floats.computeIfAbsent(a.length, k -> new ArrayDeque<>()).push(a);
        idleBytes += 4L * a.length;
    }
}
