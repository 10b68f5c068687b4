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
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergeReport;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;

/**
 * Fluent description of a merge of models with identical structure, run by {@link #writeTo(Path)}: the first
 * model's graph, with each floating-point initializer replaced by the method's merge of that tensor across
 * the models (see {@link MergePlan}). Tensors are read, merged and written one at a time, several in
 * parallel, under a memory budget; output bytes do not depend on the thread count.
 *
 * <pre>{@code
 * MergeReport r = Graft.merge().model(a, 0.5).model(b, 0.5).method(new Linear()).writeTo(out);
 * }</pre>
 */
public final class MergeBuilder {
    private final List<Path> models = new ArrayList<>();
    private final List<Double> weights = new ArrayList<>();
    private MergeMethod method;
    private ElementType outputType;
    private WriteOptions.Layout layout = WriteOptions.Layout.AUTO;
    private int threads = Runtime.getRuntime().availableProcessors();
    private long memoryBudget = Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4);
    private ProgressListener progress = ProgressListener.NONE;

    MergeBuilder() {
    }

    /** Adds a model with its weight. */
    public MergeBuilder model(Path file, double weight) {
        models.add(Objects.requireNonNull(file));
        weights.add(weight);
        return this;
    }

    /** The per-tensor method, e.g. {@code new Linear()} from {@code graft-merge}. */
    public MergeBuilder method(MergeMethod m) {
        this.method = Objects.requireNonNull(m);
        return this;
    }

    /** Store merged tensors as float32, float16 or bfloat16 (default: each tensor's type in the first model). */
    public MergeBuilder outputType(ElementType type) {
        if (!type.isFloatingPoint()) {
            throw new IllegalArgumentException("output type must be floating point, got " + type.displayName());
        }
        this.outputType = type;
        return this;
    }

    /** Inline, external data, or chosen by size (default). */
    public MergeBuilder layout(WriteOptions.Layout l) {
        this.layout = Objects.requireNonNull(l);
        return this;
    }

    /** Tensors merged at once (default: available processors). */
    public MergeBuilder threads(int n) {
        this.threads = n;
        return this;
    }

    /** Bytes the tensors in flight may hold together (default: a quarter of the heap, at most 1 GiB). */
    public MergeBuilder memoryBudget(long bytes) {
        this.memoryBudget = bytes;
        return this;
    }

    public MergeBuilder progress(ProgressListener listener) {
        this.progress = Objects.requireNonNull(listener);
        return this;
    }

    /** Runs the merge and writes the result atomically to {@code target}. */
    public MergeReport writeTo(Path target) {
        if (method == null) {
            throw new IllegalStateException("no merge method set: call method(...) first");
        }
        if (models.isEmpty()) {
            throw new IllegalStateException("no models to merge: call model(file, weight) first");
        }
        long start = System.nanoTime();
        List<OnnxModel> opened = new ArrayList<>();
        try {
            for (Path p : models) {
                opened.add(OnnxModel.open(p));
            }
            MergePlan plan = MergePlan.of(opened);
            double[] w = weights.stream().mapToDouble(Double::doubleValue).toArray();
            List<TensorJob> jobs = new ArrayList<>();
            List<MergeReport.Unmerged> unmerged = new ArrayList<>();
            int merged = 0;
            for (MergePlan.Step step : plan.steps()) {
                if (step.merge()) {
                    jobs.add(mergeJob(step.first(), opened, w));
                    merged++;
                } else {
                    jobs.add(new TensorJob(OutputTensor.copyOf(step.first()), Math.max(0, step.first().byteLength())));
                    unmerged.add(new MergeReport.Unmerged(step.first().name(), step.reason()));
                }
            }
            for (MergePlan.Ignored i : plan.ignored()) {
                unmerged.add(new MergeReport.Unmerged(i.tensor(), i.reason()));
            }
            List<CompletableFuture<Provenance.Input>> hashes = new ArrayList<>();
            for (OnnxModel m : opened) {
                hashes.add(Provenance.Input.hashInBackground(m));
            }
            Map<String, String> params = new LinkedHashMap<>(method.parameters());
            params.put("method", method.name());
            params.put("weights", java.util.Arrays.toString(w));
            if (outputType != null) {
                params.put("dtype", outputType.displayName());
            }
            WriteOptions options = WriteOptions.defaults().withLayout(layout).withProvenance(() ->
                    new Provenance("merge", params, hashes.stream().map(CompletableFuture::join).toList()));
            WrittenFiles written = new StreamingExecutor(threads, memoryBudget).run(jobs, progress,
                    tensors -> OnnxWriter.write(opened.get(0).proto(), tensors, target, options));
            List<MergeReport.Input> reportInputs = new ArrayList<>();
            for (int i = 0; i < opened.size(); i++) {
                Provenance.Input in = hashes.get(i).join();
                reportInputs.add(new MergeReport.Input(in.file(), w[i], in.sha256()));
            }
            return new MergeReport(written.names(), method.name(), params, reportInputs, merged, unmerged, written.bytes(),
                    (System.nanoTime() - start) / 1e9);
        } finally {
            opened.forEach(OnnxModel::close);
        }
    }

    private TensorJob mergeJob(Weight first, List<OnnxModel> opened, double[] w) {
        ElementType type = outputType != null ? outputType : first.type();
        String name = first.name();
        OutputTensor tensor = OutputTensor.like(first, type, () -> {
            float[][] inputs = new float[opened.size()][];
            for (int m = 0; m < opened.size(); m++) {
                inputs[m] = opened.get(m).weight(name).orElseThrow().toFloats();
            }
            float[] out = new float[inputs[0].length];
            method.merge(name, inputs, w, out);
            return FloatCodec.encode(type, out);
        });
        long working = first.elementCount() * 4L * (opened.size() + 1) + type.byteLength(first.elementCount());
        return new TensorJob(tensor, working);
    }
}
