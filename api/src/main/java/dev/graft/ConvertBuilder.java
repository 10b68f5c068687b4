package dev.graft;

import dev.graft.exec.ProgressListener;
import dev.graft.exec.StreamingExecutor;
import dev.graft.exec.TensorJob;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Fluent description of a rewrite of one model, run by {@link #writeTo(Path)}: optionally storing every
 * floating-point initializer as another element type (rounding to nearest even; the graph keeps computing in
 * its own type through {@code Cast} nodes), and choosing inline or external data. Without changes it is a
 * plain read and write, streamed and zero-copy, whose result computes bit-identically.
 */
public final class ConvertBuilder {
    private final Path source;
    private ElementType dtype;
    private WriteOptions.Layout layout = WriteOptions.Layout.AUTO;
    private int threads = Runtime.getRuntime().availableProcessors();
    private long memoryBudget = Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4);
    private ProgressListener progress = ProgressListener.NONE;
    private boolean sync = true;

    /** What a conversion did. */
    public record Report(List<String> outputs, String dtype, String layout, int converted, int copied,
                         long bytesWritten, double seconds) {
    }

    ConvertBuilder(Path source) {
        this.source = Objects.requireNonNull(source);
    }

    /** Store floating-point initializers as float32, float16 or bfloat16 (default: unchanged). */
    public ConvertBuilder dtype(ElementType type) {
        if (!type.isFloatingPoint() || type == ElementType.DOUBLE) {
            throw new IllegalArgumentException("dtype must be float32, float16 or bfloat16, got " + type.displayName());
        }
        this.dtype = type;
        return this;
    }

    public ConvertBuilder layout(WriteOptions.Layout l) {
        this.layout = Objects.requireNonNull(l);
        return this;
    }

    public ConvertBuilder threads(int n) {
        this.threads = n;
        return this;
    }

    public ConvertBuilder memoryBudget(long bytes) {
        this.memoryBudget = bytes;
        return this;
    }

    /** Sync the files to disk before moving them into place (default true: safe against power loss). */
    public ConvertBuilder sync(boolean s) {
        this.sync = s;
        return this;
    }

    public ConvertBuilder progress(ProgressListener listener) {
        this.progress = Objects.requireNonNull(listener);
        return this;
    }

    /** Writes the converted model atomically to {@code target}. */
    public Report writeTo(Path target) {
        long start = System.nanoTime();
        try (OnnxModel model = OnnxModel.open(source)) {
            List<TensorJob> jobs = new ArrayList<>();
            int converted = 0;
            for (Weight w : model.initializers()) {
                if (dtype != null && w.type().isFloatingPoint() && w.type() != dtype) {
                    ElementType to = dtype;
                    OutputTensor t = OutputTensor.like(w, to, w::toFloats);
                    jobs.add(new TensorJob(t, w.elementCount() * 4));
                    converted++;
                } else {
                    jobs.add(TensorJob.passThrough(OutputTensor.copyOf(w)));
                }
            }
            Map<String, String> params = new LinkedHashMap<>();
            params.put("dtype", dtype == null ? "unchanged" : dtype.displayName());
            params.put("layout", layout.name().toLowerCase(java.util.Locale.ROOT));
            CompletableFuture<Provenance.Input> hash = Provenance.Input.hashInBackground(model);
            WriteOptions options = WriteOptions.defaults().withLayout(layout).withSync(sync)
                    .withProvenance(() -> new Provenance("convert", params, List.of(hash.join())));
            WrittenFiles written;
            try (OnnxWriter writer = OnnxWriter.create(model.proto(), jobs.stream().map(TensorJob::tensor).toList(),
                    target, options)) {
                new StreamingExecutor(threads, memoryBudget).run(jobs, progress, writer);
                written = writer.commit();
            }
            return new Report(written.names(), params.get("dtype"), params.get("layout"), converted, jobs.size() - converted,
                    written.bytes(), (System.nanoTime() - start) / 1e9);
        }
    }
}
