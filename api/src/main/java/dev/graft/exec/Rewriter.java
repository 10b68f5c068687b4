package dev.graft.exec;

import dev.graft.GraftException;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Carries out a {@link RewritePlan}: hashes its inputs in the background, computes its jobs with the
 * {@link StreamingExecutor} under the execution's memory budget, writes them with one {@link OnnxWriter}
 * (atomically: nothing appears at the target unless everything was written), records provenance in the model
 * metadata, then runs the plan's check, removing the files if it fails. The one write path of Graft.
 */
public final class Rewriter {
    private Rewriter() {
    }

    /** What was written, and the provenance recorded in it. */
    public record Result(WrittenFiles files, Provenance provenance) {
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
            new StreamingExecutor(execution.threads(), execution.memoryBudget())
                    .run(plan.jobs(), execution.progress(), writer);
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
        return new Result(written, provenance[0]);
    }
}
