package dev.graft.verify;

import dev.graft.exec.Threads;
import java.util.Map;

/**
 * How probe inputs are made: symbolic dimensions are sized by {@link SymbolicDims} from {@code batch} (first
 * dimensions), {@code length} (new tokens and other extents), {@code past} (tokens already in a decoder's KV cache)
 * and {@code dims} (sizes given by name, {@code --dim NAME=N}); float inputs are standard normal and integer inputs
 * that index a table are uniform over its rows, both from {@code seed}; position ids count from {@code past}; other
 * integer inputs are ones (masks). {@code threads} sizes ONNX Runtime's intra-op pool.
 */
public record ProbeOptions(int batch, int length, int past, long seed, int threads, Map<String, Long> dims) {
    /**
     * Tokens in a probe's KV cache by default: not 0, so the cache path runs, and unlike the other sizes, so that a
     * graph mixing them up fails.
     */
    public static final int DEFAULT_PAST = 3;

    public ProbeOptions {
        dims = Map.copyOf(dims);
    }

    /** Probes with the default cache length and no sizes given by name. */
    public ProbeOptions(int batch, int length, long seed, int threads) {
        this(batch, length, DEFAULT_PAST, seed, threads, Map.of());
    }

    public static ProbeOptions defaults() {
        return new ProbeOptions(2, 8, 42, Threads.modelRuns());
    }

    /** These options with symbolic dimensions sized by name as {@code sizes} says. */
    public ProbeOptions withDims(Map<String, Long> sizes) {
        return new ProbeOptions(batch, length, past, seed, threads, sizes);
    }

    /** The sizes of symbolic dimensions. */
    public SymbolicDims symbolicDims() {
        return new SymbolicDims(batch, length, past, dims);
    }
}
