package dev.graft.align;

import dev.graft.exec.StreamingExecutor;
import dev.graft.exec.TensorJob;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Writes a model with its weights permuted ({@link Permutations#apply}), everything else as it was: the same
 * graph, the same function when no group reaches a graph output. Weights no group touches are copied; the
 * others are read, permuted and written in their own element type (exact: permuting moves values, it does not
 * change them). Provenance records operation {@code align}.
 */
public final class ModelPermuter {
    private ModelPermuter() {
    }

    /** Writes {@code model} with {@code perms} applied to {@code target}, atomically. */
    public static WrittenFiles write(OnnxModel model, Permutations perms, Path target, Map<String, String> parameters) {
        Set<String> permuted = perms.spec().byWeight().keySet();
        List<TensorJob> jobs = new ArrayList<>();
        for (Weight w : model.initializers()) {
            if (permuted.contains(w.name()) && w.type().isFloatingPoint()) {
                OutputTensor t = OutputTensor.like(w, w.type(), () -> perms.apply(w.name(), w.shape(), w.toFloats()));
                jobs.add(new TensorJob(t, w.elementCount() * 8));
            } else {
                jobs.add(TensorJob.passThrough(OutputTensor.copyOf(w)));
            }
        }
        CompletableFuture<Provenance.Input> hash = Provenance.Input.hashInBackground(model);
        WriteOptions options = WriteOptions.defaults()
                .withProvenance(() -> new Provenance("align", parameters, List.of(hash.join())));
        int threads = Runtime.getRuntime().availableProcessors();
        try (OnnxWriter writer = OnnxWriter.create(model.proto(), jobs.stream().map(TensorJob::tensor).toList(),
                target, options)) {
            new StreamingExecutor(threads, Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4))
                    .run(jobs, dev.graft.exec.ProgressListener.NONE, writer);
            return writer.commit();
        }
    }
}
