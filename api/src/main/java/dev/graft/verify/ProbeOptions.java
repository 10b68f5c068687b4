package dev.graft.verify;

import dev.graft.exec.Threads;

/**
 * How probe inputs are made: symbolic first dims become {@code batch}, other symbolic dims {@code length};
 * float inputs are standard normal and integer inputs that index a table are uniform over its rows, both
 * from {@code seed}; other integer inputs are ones (masks). {@code threads} sizes ONNX Runtime's intra-op pool.
 */
public record ProbeOptions(int batch, int length, long seed, int threads) {
    public static ProbeOptions defaults() {
        return new ProbeOptions(2, 8, 42, Threads.modelRuns());
    }
}
