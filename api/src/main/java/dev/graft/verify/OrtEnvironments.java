package dev.graft.verify;

import ai.onnxruntime.OrtEnvironment;
import java.util.concurrent.atomic.AtomicReference;

/**
 * ONNX Runtime's environment, made the first time on a thread with a 16 MiB stack. Loading ONNX Runtime 1.29's
 * native library takes most of a thread's default 1 MiB stack here (OpenJDK 17 on Linux), and with a long command
 * line (a class path of a few dozen jars, as {@code spark-submit} or an IDE writes) the JVM's main thread overflows
 * and the process dies with SIGSEGV and no error report. Made here, the load runs on a stack with room to spare,
 * whoever asks first; later calls return the same environment.
 */
public final class OrtEnvironments {
    private static final long LOADER_STACK = 16L << 20;
    private static final AtomicReference<OrtEnvironment> ENV = new AtomicReference<>();

    private OrtEnvironments() {
    }

    /** The process's ONNX Runtime environment. */
    public static OrtEnvironment get() {
        OrtEnvironment env = ENV.get();
        if (env != null) {
            return env;
        }
        synchronized (OrtEnvironments.class) {
            if (ENV.get() == null) {
                AtomicReference<Throwable> failed = new AtomicReference<>();
                Thread loader = new Thread(null, () -> {
                    try {
                        ENV.set(OrtEnvironment.getEnvironment());
                    } catch (Throwable t) { // rethrown on the caller's thread
                        failed.set(t);
                    }
                }, "graft-onnxruntime-load", LOADER_STACK);
                loader.start();
                try {
                    loader.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while loading ONNX Runtime", e);
                }
                if (failed.get() instanceof RuntimeException r) {
                    throw r;
                }
                if (failed.get() instanceof Error e) {
                    throw e;
                }
            }
            return ENV.get();
        }
    }
}
