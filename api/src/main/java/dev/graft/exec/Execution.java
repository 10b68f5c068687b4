package dev.graft.exec;

import dev.graft.InvalidSettingException;
import java.util.Objects;

/**
 * How a rewrite runs: the tensor jobs computed at once, the bytes they may hold together (see
 * {@link TensorJob#workingBytes()}), and who is told of progress. {@link #defaults()} is the one default every
 * operation uses: {@link Threads#workers()} threads and {@link #defaultBudget()} (a quarter of the heap, at
 * most 1 GiB, unless {@code -Dgraft.memory} says otherwise).
 * Fewer than one thread or a budget under one byte is an {@link InvalidSettingException} (a user's
 * {@code --threads 0} reaches here).
 */
public record Execution(int threads, long memoryBudget, ProgressListener progress) {
    public Execution {
        if (threads < 1) {
            throw new InvalidSettingException("threads must be at least 1, got " + threads);
        }
        if (memoryBudget < 1) {
            throw new InvalidSettingException("memory budget must be positive, got " + memoryBudget + " bytes");
        }
        Objects.requireNonNull(progress, "progress");
    }

    /** {@link Threads#workers()} threads, {@link #defaultBudget()}, no progress reports. */
    public static Execution defaults() {
        return new Execution(Threads.workers(), defaultBudget(), ProgressListener.NONE);
    }

    /**
     * {@code -Dgraft.memory=SIZE} if set (bytes, or with a suffix {@code k}, {@code m}, {@code g}: {@code 512m}),
     * else a quarter of the maximum heap, at most 1 GiB.
     */
    public static long defaultBudget() {
        String set = System.getProperty("graft.memory");
        if (set == null || set.isBlank()) {
            return Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4);
        }
        String v = set.trim().toLowerCase(java.util.Locale.ROOT);
        int shift = switch (v.charAt(v.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            default -> 0;
        };
        try {
            long bytes = Long.parseLong(shift == 0 ? v : v.substring(0, v.length() - 1)) << shift;
            if (bytes < 1) {
                throw new NumberFormatException();
            }
            return bytes;
        } catch (NumberFormatException e) {
            throw new InvalidSettingException("system property graft.memory must be a positive size such as "
                    + "512m or 2g, got '" + set + "'");
        }
    }

    public Execution withThreads(int n) {
        return new Execution(n, memoryBudget, progress);
    }

    public Execution withMemoryBudget(long bytes) {
        return new Execution(threads, bytes, progress);
    }

    public Execution withProgress(ProgressListener p) {
        return new Execution(threads, memoryBudget, p);
    }
}
