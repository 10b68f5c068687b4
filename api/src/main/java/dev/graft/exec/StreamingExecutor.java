package dev.graft.exec;

import dev.graft.onnx.OutputTensor;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/**
 * Runs tensor computations in parallel, ahead of a writer that consumes them in output order, under a memory
 * budget: a job starts only when its working bytes fit in what the budget has left, and gives them back when
 * its result has been written. Jobs start in output order, so the job the writer waits for has always started
 * and the budget cannot deadlock; a job larger than the whole budget runs alone. Results do not depend on the
 * number of threads. Unchanged copies ({@link OutputTensor#isCopy()}) are not computed ahead: the writer reads them.
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
     * Hands {@code sink} the jobs' tensors, whose data suppliers wait for computations started in the background;
     * returns what the sink returns. The sink must consume the tensors in order (as {@link
     * dev.graft.onnx.OnnxWriter} does).
     */
    public <R> R run(List<TensorJob> jobs, ProgressListener progress, Function<List<OutputTensor>, R> sink) {
        int budgetPermits = (int) Math.max(1, Math.min(Integer.MAX_VALUE, budgetBytes / PERMIT));
        Semaphore budget = new Semaphore(budgetPermits);
        AtomicBoolean stop = new AtomicBoolean();
        List<CompletableFuture<ByteBuffer>> results = new ArrayList<>();
        int[] permits = new int[jobs.size()];
        for (int i = 0; i < jobs.size(); i++) {
            results.add(new CompletableFuture<>());
            long units = (jobs.get(i).workingBytes() + PERMIT - 1) / PERMIT;
            permits[i] = (int) Math.max(1, Math.min(budgetPermits, units));
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "graft-worker");
            t.setDaemon(true);
            return t;
        });
        Thread feeder = new Thread(() -> {
            for (int i = 0; i < jobs.size() && !stop.get(); i++) {
                OutputTensor t = jobs.get(i).tensor();
                CompletableFuture<ByteBuffer> result = results.get(i);
                if (t.verbatim() || t.isCopy()) {
                    continue; // nothing to compute: the writer reads it itself
                }
                try {
                    budget.acquire(permits[i]);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                pool.execute(() -> {
                    try {
                        result.complete(t.data().get());
                    } catch (Throwable e) {
                        result.completeExceptionally(e);
                    }
                });
            }
        }, "graft-feeder");
        feeder.setDaemon(true);
        List<OutputTensor> out = new ArrayList<>();
        int total = jobs.size();
        int[] done = {0};
        for (int i = 0; i < jobs.size(); i++) {
            OutputTensor t = jobs.get(i).tensor();
            int index = i;
            boolean passThrough = t.verbatim() || t.isCopy();
            Runnable release = () -> {
                if (!passThrough) {
                    results.set(index, null); // free the result as soon as it is written
                    budget.release(permits[index]);
                }
                progress.written(t.name(), ++done[0], total);
            };
            if (passThrough) {
                out.add(t.onWritten(release));
            } else {
                CompletableFuture<ByteBuffer> result = results.get(i);
                out.add(t.withData(result::get).onWritten(release));
            }
        }
        feeder.start();
        try {
            return sink.apply(out);
        } finally {
            stop.set(true);
            feeder.interrupt();
            pool.shutdownNow();
        }
    }
}
