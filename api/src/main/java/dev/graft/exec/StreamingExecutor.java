package dev.graft.exec;

import dev.graft.onnx.OnnxWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Computes a writer's tensors in parallel under a memory budget, each written at its place as soon as it is
 * ready ({@link OnnxWriter#writeComputed}), while the calling thread writes the model's structure and copied
 * tensors. A job starts only when its working bytes fit in what the budget has left, and gives them back when
 * its result is written, so memory holds only the jobs in flight; a job larger than the whole budget runs
 * alone. Jobs start in output order. A job that {@linkplain TensorJob#follows follows} another runs on a thread of
 * its own, outside the budget, so that waiting for its leader takes no worker; after a failure, the followers still
 * waiting are interrupted. The bytes written do not depend on
 * the number of threads.
 */
public final class StreamingExecutor {
    private static final int PERMIT = 1 << 16; // the budget is counted in 64 KiB units
    private final int threads;
    private final long budgetBytes;

    /**
     * @param threads     computations running at once
     * @param budgetBytes memory the jobs in flight may hold together
     */
    public StreamingExecutor(int threads, long budgetBytes) {
        if (threads < 1 || budgetBytes < 1) {
            throw new IllegalArgumentException("threads and budget must be positive");
        }
        this.threads = threads;
        this.budgetBytes = budgetBytes;
    }

    /**
     * Writes every tensor of {@code writer}, whose tensors are those of {@code jobs} in the same order; returns
     * when all are written, or throws the first failure. The caller then commits the writer.
     */
    public void run(List<TensorJob> jobs, ProgressListener progress, OnnxWriter writer) {
        if (jobs.size() != writer.tensors().size()) {
            throw new IllegalArgumentException(jobs.size() + " jobs for " + writer.tensors().size() + " tensors");
        }
        for (int i = 0; i < jobs.size(); i++) {
            if (writer.tensors().get(i).leader() != null && !jobs.get(i).follows()) {
                throw new IllegalArgumentException("tensor '" + writer.tensors().get(i).name() + "' is written by its "
                        + "leader's job: its own job must follow it");
            }
        }
        int budgetPermits = (int) Math.max(1, Math.min(Integer.MAX_VALUE, budgetBytes / PERMIT));
        Semaphore budget = new Semaphore(budgetPermits);
        AtomicBoolean stop = new AtomicBoolean();
        // the failure reported: the first to happen (later ones may be its consequences, such as a file channel
        // closed by the interruption of a follower writing to it)
        AtomicReference<Throwable> firstFailure = new AtomicReference<>();
        AtomicInteger done = new AtomicInteger();
        int total = jobs.size();
        List<CompletableFuture<Void>> results = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "graft-worker");
            t.setDaemon(true);
            return t;
        });
        for (int i = 0; i < total; i++) {
            results.add(writer.isComputed(i) ? new CompletableFuture<>() : CompletableFuture.completedFuture(null));
        }
        ExecutorService followers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "graft-follower");
            t.setDaemon(true);
            return t;
        });
        Thread feeder = new Thread(() -> {
            for (int i = 0; i < total && !stop.get(); i++) {
                if (!writer.isComputed(i)) {
                    continue;
                }
                int index = i;
                boolean follows = jobs.get(i).follows();
                int permits = follows ? 0 : (int) Math.max(1, Math.min(budgetPermits,
                        (jobs.get(i).workingBytes() + PERMIT - 1) / PERMIT));
                try {
                    budget.acquire(permits);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                (follows ? followers : pool).execute(() -> {
                    try {
                        if (!stop.get()) {
                            writer.writeComputed(index);
                            report(progress, writer, index, done, total);
                        }
                        results.get(index).complete(null);
                    } catch (Throwable e) {
                        firstFailure.compareAndSet(null, e);
                        stop.set(true);
                        // followers waiting for a leader that will not run now must not wait for ever
                        followers.shutdownNow();
                        results.get(index).completeExceptionally(e);
                    } finally {
                        budget.release(permits);
                    }
                });
            }
        }, "graft-feeder");
        feeder.setDaemon(true);
        feeder.start();
        try {
            writer.writeStructure(index -> report(progress, writer, index, done, total));
            for (CompletableFuture<Void> r : results) {
                r.join();
            }
        } catch (CompletionException e) {
            Throwable cause = firstFailure.get() != null ? firstFailure.get() : e.getCause();
            if (cause instanceof RuntimeException re) {
                throw re;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw e;
        } finally {
            stop.set(true);
            feeder.interrupt();
            pool.shutdownNow();
            followers.shutdownNow();
        }
    }

    private static void report(ProgressListener progress, OnnxWriter writer, int index, AtomicInteger done,
                               int total) {
        synchronized (progress) {
            progress.written(writer.tensors().get(index).name(), done.incrementAndGet(), total);
        }
    }
}
