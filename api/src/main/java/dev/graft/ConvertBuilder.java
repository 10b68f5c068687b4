package dev.graft;

import dev.graft.exec.Execution;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Objects;


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
    private Execution execution = Execution.defaults();
    private boolean sync = true;

    /** What a conversion did. */
    public record Report(List<String> outputs, String dtype, String layout, int converted, int copied,
                         long bytesWritten, double seconds) {
    }

    ConvertBuilder(Path source) {
        this.source = Objects.requireNonNull(source);
    }

    /**
     * Store floating-point initializers as float32, float16 or bfloat16 (default: unchanged).
     *
     * @throws InvalidSettingException if {@code type} is not float32, float16 or bfloat16
     */
    public ConvertBuilder dtype(ElementType type) {
        if (!type.isFloatingPoint() || type == ElementType.DOUBLE) {
            throw new InvalidSettingException("dtype must be float32, float16 or bfloat16, got " + type.displayName());
        }
        this.dtype = type;
        return this;
    }

    public ConvertBuilder layout(WriteOptions.Layout l) {
        this.layout = Objects.requireNonNull(l);
        return this;
    }

    public ConvertBuilder threads(int n) {
        this.execution = execution.withThreads(n);
        return this;
    }

    public ConvertBuilder memoryBudget(long bytes) {
        this.execution = execution.withMemoryBudget(bytes);
        return this;
    }

    /** Sync the files to disk before moving them into place (default true: safe against power loss). */
    public ConvertBuilder sync(boolean s) {
        this.sync = s;
        return this;
    }

    public ConvertBuilder progress(ProgressListener listener) {
        this.execution = execution.withProgress(listener);
        return this;
    }

    /**
     * Writes the converted model atomically to {@code target}.
     *
     * @throws ModelFormatException if the source is not a well-formed ONNX model
     * @throws GraftIoException     if the source cannot be read or the target cannot be written
     */
    public Report writeTo(Path target) {
        long start = System.nanoTime();
        try (OnnxModel model = OnnxModel.open(source)) {
            String dtypeName = dtype == null ? "unchanged" : dtype.displayName();
            String layoutName = layout.name().toLowerCase(Locale.ROOT);
            RewritePlan.Builder plan = RewritePlan.of("convert", model.proto()).input(model).companionsOf(model.file())
                    .parameter("dtype", dtypeName).parameter("layout", layoutName).layout(layout).sync(sync);
            int converted = 0;
            for (Weight w : model.initializers()) {
                if (dtype != null && w.type().isFloatingPoint() && w.type() != dtype) {
                    plan.compute(OutputTensor.like(w, dtype, w::toFloats), w.elementCount() * 4);
                    converted++;
                } else {
                    plan.copy(w);
                }
            }
            WrittenFiles written = Rewriter.write(plan.build(), target, execution).files();
            return new Report(written.names(), dtypeName, layoutName, converted, model.initializers().size() - converted,
                    written.bytes(), (System.nanoTime() - start) / 1e9);
        }
    }
}
