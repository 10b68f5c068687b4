package dev.graft.exec;

import dev.graft.GraftException;
import dev.graft.onnx.CompanionFiles;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Carries out a {@link RewritePlan}: hashes its inputs in the background, computes its jobs with the
 * {@link StreamingExecutor} under the execution's memory budget, writes them with one {@link OnnxWriter}
 * (atomically: nothing appears at the target unless everything was written, and nothing does if an input was
 * truncated, rewritten or replaced while it was read: {@link dev.graft.InputChangedException}), records provenance in
 * the model metadata, then runs the plan's check, removing the files if it fails. The one write path of Graft.
 */
public final class Rewriter {
    private Rewriter() {
    }

    /** What a write produced: the model and data files, the provenance recorded, the companion files copied. */
    public record Result(WrittenFiles files, Provenance provenance, List<Path> companions) {
    }

    /**
     * Writes {@code plan} to {@code target}.
     *
     * @throws GraftException if an input cannot be read, a job fails on bad data, the target cannot be written,
     *                        or the check fails (the files are then removed)
     */
    public static Result write(RewritePlan plan, Path target, Execution execution) {
        List<CompletableFuture<Provenance.Input>> hashes = new ArrayList<>();
        plan.inputs().forEach(m -> hashes.add(Provenance.Input.hashInBackground(m)));
        Provenance[] provenance = new Provenance[1];
        WriteOptions options = WriteOptions.defaults().withLayout(plan.layout()).withSync(plan.sync())
                .withProvenance(() -> provenance[0] = new Provenance(plan.operation(), plan.parameters(),
                        hashes.stream().map(CompletableFuture::join).toList()));
        WrittenFiles written;
        try (OnnxWriter writer = OnnxWriter.create(plan.template(), plan.tensors(), target, options)) {
            try {
                new StreamingExecutor(execution.threads(), execution.memoryBudget())
                        .run(plan.jobs(), execution.progress(), writer);
            } catch (InternalError e) { // the JVM's report of a fault reading a mapping: a file shrank under it
                plan.inputs().forEach(m -> m.checkUnchanged(e));
                throw e;
            }
            plan.inputs().forEach(m -> m.checkUnchanged(null));
            written = writer.commit();
        }
        if (plan.check() != null) {
            try {
                plan.check().accept(target);
            } catch (RuntimeException e) {
                for (Path p : written.files()) {
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException ignored) {
                        // the failure below is what the user needs to see; a leftover is overwritten next time
                    }
                }
                throw e instanceof GraftException g ? g
                        : new GraftException(target, null, "the written model failed its check: " + e.getMessage(), e);
            }
        }
        List<Path> companions = plan.companions() == null ? List.of() : CompanionFiles.copy(plan.companions(), target);
        return new Result(written, provenance[0], companions);
    }

    /**
     * Computes {@code plan}'s computed tensors without writing a file: each one's float32 values by name, in output
     * order (copied tensors are left out: they are their sources' bytes, unchanged), on
     * {@code execution.threads()} workers. Every result is held, so memory grows with the computed tensors; for a
     * result evaluated in memory rather than written.
     *
     * @throws GraftException naming the tensor if a computation fails
     */
    public static Map<String, float[]> compute(RewritePlan plan, Execution execution) {
        List<OutputTensor> computed = plan.tensors().stream().filter(t -> !t.isCopy() && t.values() != null).toList();
        ExecutorService pool = Executors.newFixedThreadPool(execution.threads(), r -> {
            Thread t = new Thread(r, "graft-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<float[]>> results = new ArrayList<>();
            for (OutputTensor t : computed) {
                results.add(pool.submit(t::computeCopy));
            }
            Map<String, float[]> out = new LinkedHashMap<>();
            for (int i = 0; i < computed.size(); i++) {
                try {
                    out.put(computed.get(i).name(), results.get(i).get());
                    execution.progress().written(computed.get(i).name(), i + 1, computed.size());
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof GraftException g) {
                        throw g;
                    }
                    throw new GraftException(null, computed.get(i).name(), "could not compute the tensor: "
                            + e.getCause(), e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new GraftException(null, computed.get(i).name(), "interrupted while computing", e);
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }
}
