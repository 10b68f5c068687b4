package dev.graft.exec;

import dev.graft.InvalidSettingException;

/**
 * The one place where Graft decides how many threads to use. {@link #workers()} is for work whose speed grows
 * with cores (tensor jobs, ONNX Runtime matrix products); {@link #modelRuns()} is the intra-op thread count of
 * ONNX Runtime sessions that run whole models over calibration batches, kept at two or fewer: those runs
 * overlap with Java work on the same batch, and more threads for small batches gained nothing on the machines
 * Graft is measured on. The system property {@code graft.threads} caps both.
 */
public final class Threads {
    private Threads() {
    }

    /** Worker threads: the available processors, or {@code -Dgraft.threads=N} if smaller. */
    public static int workers() {
        int cores = Runtime.getRuntime().availableProcessors();
        String cap = System.getProperty("graft.threads");
        if (cap == null || cap.isBlank()) {
            return cores;
        }
        try {
            return Math.max(1, Math.min(cores, Integer.parseInt(cap.trim())));
        } catch (NumberFormatException e) {
            throw new InvalidSettingException("system property graft.threads must be a whole number, got '"
                    + cap + "'");
        }
    }

    /** Intra-op threads of a session that runs a whole model over data: {@code min(2, workers())}. */
    public static int modelRuns() {
        return Math.min(2, workers());
    }
}
