package dev.graft.plan;

import com.google.common.hash.Hashing;
import dev.graft.exec.ArrayPool;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.GraphIndex;
import dev.graft.linalg.MatrixProducts;
import dev.graft.index.IndexedWeight;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WeightReader;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import dev.graft.tensor.BlockQuantization;
import dev.graft.tensor.ElementType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One merge carried out: the models are opened and planned ({@link MergePlan}), the method's model-wide
 * preparation runs if it has one, and each merged tensor becomes a lazy job that reads its inputs, runs the method
 * ({@link MergeMethod#merge}) and records diagnostics; the jobs and the copied tensors go through the one rewrite
 * pipeline ({@link Rewriter}). Idle pooled arrays take a quarter of the memory budget, the jobs the rest. The
 * fluent description users write is {@code dev.graft.MergeBuilder}, which checks it and builds the request.
 */
public final class MergeRun {
    /**
     * A checked merge description.
     *
     * @param base           the base model, or null
     * @param models         the models as the user gave them (provenance hashes these)
     * @param modelSettings  each model's settings, in order
     * @param globalSettings the settings for every tensor
     * @param specs          the method's parameters by name, checked against the settings
     * @param method         the per-tensor method
     * @param outputType     the stored type of merged tensors (null: each tensor's type in the reference)
     * @param parameters     the provenance parameters
     */
    public record Request(Path base, List<Path> models, List<Map<String, Setting>> modelSettings,
                          Map<String, Setting> globalSettings, Map<String, ParameterSpec> specs, MergeMethod method,
                          ElementType outputType, WriteOptions.Layout layout, Execution execution, long seed,
                          boolean diagnostics, boolean sync, Map<String, String> parameters) {
    }

    private final Request request;

    public MergeRun(Request request) {
        this.request = request;
    }

    /**
     * Merges {@code files} (the request's models, or aligned copies of them, in the same order) into {@code target};
     * provenance hashes the models as the request gives them, and the report carries {@code alignments}.
     */
    public MergeReport write(Path target, List<Path> files, List<Map<String, Object>> alignments) {
        long start = System.nanoTime();
        try (Opened o = open(files)) {
            Planned p = plan(o);
            Rewriter.Result result = Rewriter.write(p.rewrite(), target, p.execution());
            WrittenFiles written = result.files();
            MergeReport.Input baseInput = null;
            List<MergeReport.Input> reportInputs = new ArrayList<>();
            Path base = request.base();
            for (int i = 0; i < o.opened().size(); i++) {
                Provenance.Input in = result.provenance().inputs().get(i);
                String file = o.originals().get(i).file().toString(); // the path as given: inputs often share a name
                if (base != null && i == 0) {
                    baseInput = new MergeReport.Input(file, Map.of(), in.sha256());
                } else {
                    reportInputs.add(new MergeReport.Input(file,
                            Setting.describe(request.modelSettings().get(i - (base == null ? 0 : 1))), in.sha256()));
                }
            }
            List<TensorDiagnostics> ordered = order(p.diagnostics(), p.plan());
            List<String> outputs = new ArrayList<>(written.names());
            result.companions().forEach(c -> outputs.add(c.toString()));
            return new MergeReport(outputs, request.method().name(), request.parameters(), baseInput,
                    reportInputs, p.merged(), p.unmerged(), written.bytes(), (System.nanoTime() - start) / 1e9,
                    LayerSummary.of(ordered), ordered, alignments, p.plan().renamed(),
                    sortedErrors(p.quantizationErrors()));
        }
    }

    /**
     * Merges {@code files} in memory: the merged tensors' float32 values (before any conversion to the request's
     * output type) and the model file whose graph and other tensors they go with (the base, or the first model).
     */
    public MergedWeights compute(List<Path> files) {
        try (Opened o = open(files)) {
            Planned p = plan(o);
            return new MergedWeights(o.opened().get(0).file(), Rewriter.compute(p.rewrite(), p.execution()));
        }
    }

    /** The models opened for a merge (the files merged, and the files as given, for provenance). */
    private record Opened(List<OnnxModel> opened, List<OnnxModel> originals) implements AutoCloseable {
        @Override
        public void close() {
            for (int i = 0; i < originals.size(); i++) {
                if (originals.get(i) != opened.get(i)) {
                    originals.get(i).close();
                }
            }
            opened.forEach(OnnxModel::close);
        }
    }

    private Opened open(List<Path> files) {
        Path base = request.base();
        List<Path> models = request.models();
        Opened o = new Opened(new ArrayList<>(), new ArrayList<>());
        try {
            if (base != null) {
                o.opened().add(OnnxModel.open(base));
            }
            for (Path p : files) {
                o.opened().add(OnnxModel.open(p));
            }
            for (int i = 0; i < o.opened().size(); i++) {
                Path given = base != null && i == 0 ? base : models.get(i - (base != null ? 1 : 0));
                o.originals().add(given.equals(o.opened().get(i).file()) ? o.opened().get(i) : OnnxModel.open(given));
            }
            return o;
        } catch (RuntimeException e) {
            o.close();
            throw e;
        }
    }

    /** A merge planned: the rewrite, what it merges and leaves, and where its diagnostics go. */
    private record Planned(RewritePlan rewrite, Execution execution, MergePlan plan, int merged,
                           List<MergeReport.Unmerged> unmerged, List<TensorDiagnostics> diagnostics,
                           List<MergeReport.QuantizationError> quantizationErrors) {
    }

    private Planned plan(Opened o) {
        Execution execution = request.execution();
        List<OnnxModel> opened = o.opened();
        OnnxModel reference = opened.get(0);
        List<OnnxModel> inputs = opened.subList(request.base() == null ? 0 : 1, opened.size());
        MergePlan plan = MergePlan.of(opened);
        TensorDepths depths = new TensorDepths(GraphIndex.of(reference));
        List<TensorDiagnostics> tensorDiagnostics = Collections.synchronizedList(new ArrayList<>());
        List<MergeReport.QuantizationError> quantizationErrors = Collections.synchronizedList(new ArrayList<>());
        // idle pooled arrays and the jobs in flight share the budget: a quarter for the pool, the rest for jobs
        long poolBytes = execution.memoryBudget() / 4;
        long jobBudget = Math.max(1, execution.memoryBudget() - poolBytes);
        ArrayPool pool = new ArrayPool(poolBytes);
        TensorReader reader = new TensorReader(inputs, depths);
        ResolvedParameters modelWide = new ResolvedParameters("", 0, request.specs(), request.globalSettings(),
                request.modelSettings());
        Object prepared = request.method().needsPreparation(modelWide) ? request.method().prepare(visitor -> {
            for (MergePlan.Step step : plan.steps()) {
                if (step.merge() && (step.quantized() == null || step.first() == step.quantized().get(0).codes())) {
                    try (TensorInputs in = reader.read(step, float[]::new, null, null)) {
                        visitor.accept(in);
                    }
                }
            }
        }, modelWide) : null;
        RewritePlan.Builder rewrite = RewritePlan.of("merge", reference.proto()).parameters(request.parameters())
                .layout(request.layout()).sync(request.sync()).companionsOf(o.originals().get(0).file());
        o.originals().forEach(rewrite::input);
        List<MergeReport.Unmerged> unmerged = new ArrayList<>();
        int merged = 0;
        Map<String, QuantizedRewrite> quantized = new HashMap<>();
        Map<String, List<MergePlan.Step>> copies = new HashMap<>(); // a table's tied copies
        for (MergePlan.Step step : plan.steps()) {
            if (step.merge() && step.tie() != null) {
                copies.computeIfAbsent(step.tie().table(), t -> new ArrayList<>()).add(step);
            }
        }
        Map<String, java.util.Optional<TensorJob>> slicedTables = new HashMap<>();
        for (MergePlan.Step step : plan.steps()) {
            if (step.quantized() != null) {
                MergePlan.Step codes = plan.step(step.quantized().get(0).codes().name());
                rewrite.add(quantized.computeIfAbsent(codes.first().name(), c -> quantizedMerge(codes, plan, reader,
                        pool, jobBudget, execution.threads(), tensorDiagnostics, prepared, quantizationErrors))
                        .part(step.first()));
                merged++;
            } else if (step.merge()) {
                MergePlan.Step source = step.tie() == null ? step : plan.step(step.tie().table());
                // a table merged in slices writes its tied copies too: their jobs only follow it
                TensorJob sliced = slicedTables.computeIfAbsent(source.first().name(), t -> java.util.Optional
                        .ofNullable(slicedJob(source, copies.getOrDefault(t, List.of()), reader, pool, jobBudget,
                                execution.threads(), tensorDiagnostics, prepared))).orElse(null);
                rewrite.add(sliced == null ? mergeJob(step, source, reader, pool, tensorDiagnostics, prepared)
                        : step == source ? sliced
                        : TensorJob.following(OutputTensor.companionOf(sliced.tensor(), step.first(), outputType(step))));
                merged++;
            } else {
                rewrite.copy(step.first());
                unmerged.add(new MergeReport.Unmerged(step.first().name(), step.reason()));
            }
        }
        for (MergePlan.Ignored i : plan.ignored()) {
            unmerged.add(new MergeReport.Unmerged(i.tensor(), i.reason()));
        }
        return new Planned(rewrite.build(), execution.withMemoryBudget(jobBudget),
                plan, merged, unmerged, tensorDiagnostics, quantizationErrors);
    }

    /**
     * Reads one merged tensor of every input into arrays from {@code alloc}, with its layout, depth, parameters
     * and random seed: the same for a method's model-wide preparation and for the merge itself.
     */
    private final class TensorReader {
        private final List<OnnxModel> inputs;
        private final TensorDepths depths;

        TensorReader(List<OnnxModel> inputs, TensorDepths depths) {
            this.inputs = inputs;
            this.depths = depths;
        }

        int modelCount() {
            return inputs.size();
        }

        Integer layer(Weight ref) {
            IndexedWeight w = depths.index().get(ref.name()).orElseThrow();
            return w.layer().isPresent() ? w.layer().getAsInt() : null;
        }

        /** The parameters of tensor {@code name}, resolved for its depth. */
        ResolvedParameters parameters(String name) {
            return new ResolvedParameters(name, depths.of(name), request.specs(), request.globalSettings(),
                    request.modelSettings());
        }

        /** The random seed of tensor {@code name}: from the merge's seed and the name only. */
        long seed(String name) {
            return Hashing.murmur3_128().newHasher().putLong(request.seed()).putString(name, StandardCharsets.UTF_8)
                    .hash().asLong();
        }

        /**
         * The shape a merge holds {@code step}'s tensor in: its own, or for a quantized weight the float weight its
         * codes stand for, held {@code [N, K]} ({@code [out, in]}): its columns as rows, so that a column's blocks
         * are contiguous and columns can be merged in slices.
         */
        long[] shape(MergePlan.Step step) {
            List<QuantizedMatMul> quantized = step.quantized();
            return quantized == null ? step.first().shape()
                    : new long[] {quantized.get(0).quantization().n(), quantized.get(0).quantization().k()};
        }

        /** Whether {@code step}'s tensor is held {@code [in, out]} (a MatMul's weight as stored). */
        boolean inOut(MergePlan.Step step) {
            return step.quantized() == null
                    && depths.index().get(step.first().name()).orElseThrow().role().storedInOut();
        }

        /** The inputs of one tensor without its values, for a merge in slices. */
        TensorInputs header(MergePlan.Step step, TensorDiagnostics.Recorder recorder, Object prepared) {
            String name = step.first().name();
            long[] shape = shape(step);
            return TensorInputs.sliced(name, shape, inOut(step), Math.toIntExact(Arrays.stream(shape)
                    .reduce(1, Math::multiplyExact)), inputs.size(), parameters(name), seed(name), recorder, prepared);
        }

        /** The inputs of one tensor, read from the files as the method asks for them; close after use. */
        TensorInputs read(MergePlan.Step step, java.util.function.IntFunction<float[]> alloc,
                          TensorDiagnostics.Recorder recorder, Object prepared) {
            Weight ref = step.first();
            int offset = step.sources().size() - inputs.size(); // the base, when there is one, comes first
            String name = ref.name();
            List<QuantizedMatMul> quantized = step.quantized();
            long[] shape = shape(step);
            int n = Math.toIntExact(java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact));
            float[] baseValues = request.base() != null ? alloc.apply(n) : null;
            float[][] values = new float[inputs.size()][];
            WeightReader[] readers = new WeightReader[values.length + 1];
            for (int m = 0; m < values.length; m++) {
                values[m] = alloc.apply(n);
            }
            boolean inOut = inOut(step);
            long tensorSeed = seed(name);
            TensorInputs.Loader loader = new TensorInputs.Loader() {
                private final boolean[] dequantized = new boolean[values.length + 1];

                @Override
                public void load(int from, int to) {
                    if (baseValues != null) {
                        read(values.length, 0, baseValues, from, to);
                    }
                    for (int m = 0; m < values.length; m++) {
                        read(m, m + offset, values[m], from, to);
                    }
                }

                /** Values {@code [from, to)} of the weight of model {@code source} into {@code dst}. */
                private void read(int slot, int source, float[] dst, int from, int to) {
                    if (quantized == null) {
                        reader(slot, step.sources().get(source)).read(dst, from, to - from);
                        return;
                    }
                    if (!dequantized[slot]) { // the whole weight at once, straight into the full-size array
                        quantized.get(source).dequantizeColumns(dst);
                        dequantized[slot] = true;
                    }
                }

                private WeightReader reader(int slot, Weight w) {
                    if (readers[slot] == null) {
                        readers[slot] = w.reader();
                    }
                    return readers[slot];
                }

                @Override
                public void close() {
                    for (WeightReader r : readers) {
                        if (r != null) {
                            r.close();
                        }
                    }
                }
            };
            return new TensorInputs(name, shape, inOut, baseValues, values, loader, parameters(name), tensorSeed,
                    recorder != null ? recorder : new TensorDiagnostics.Recorder(values.length), prepared);
        }
    }

    /**
     * The job that writes {@code step}'s tensor: the merge of {@code source} (the step itself, or the table a tied
     * copy holds, merged again with the table's name, parameters and seed so that the copy equals it), transposed
     * if the tie is; diagnostics are recorded once, for the table.
     */
    private TensorJob mergeJob(MergePlan.Step step, MergePlan.Step source, TensorReader reader, ArrayPool pool,
                               List<TensorDiagnostics> sink, Object prepared) {
        Weight ref = source.first();
        Weight out = step.first();
        boolean transpose = step.tie() != null && step.tie().transposed();
        ElementType type = outputType(step);
        int n = (int) ref.elementCount();
        float[][] result = new float[1][];
        OutputTensor tensor = OutputTensor.like(out, type, () -> {
            result[0] = mergeValues(source, request.diagnostics() && step == source, reader, pool, sink, prepared);
            if (transpose) {
                float[] merged = result[0];
                result[0] = MatrixProducts.transpose(merged, (int) ref.shape()[0], (int) ref.shape()[1], pool.floats(n));
                pool.release(merged);
            }
            return result[0];
        }).onWritten(() -> {
            pool.release(result[0]);
            result[0] = null;
        });
        return new TensorJob(tensor, workingBytes(n, reader) + (transpose ? 4L * n : 0));
    }

    /**
     * The job that merges table {@code step}'s tensor in slices ({@link SlicedMergeJob}) and writes it and its tied
     * {@code copies}, when merging it whole would take more than the jobs' budget ({@code jobBudget}) and the method
     * can merge it in slices; otherwise null. Each slice holds what one of {@code threads} workers may.
     */
    private TensorJob slicedJob(MergePlan.Step step, List<MergePlan.Step> copies, TensorReader reader, ArrayPool pool,
                                long jobBudget, int threads, List<TensorDiagnostics> sink, Object prepared) {
        Weight table = step.first();
        boolean transposed = copies.stream().anyMatch(c -> c.tie().transposed());
        SlicedMergeJob job = slicedMerge(step, request.diagnostics(), SlicedMergeJob.weights(step.sources(),
                request.base() != null, transposed ? (int) table.shape()[1] : 1), reader, jobBudget, threads, sink,
                prepared);
        return job == null ? null : job.job(table, outputType(step), copies.stream()
                .map(c -> new SlicedMergeJob.Copy(c.first().name(), c.tie().transposed())).toList(), pool);
    }

    /** The element type {@code step}'s tensor is written as: the one asked for, else its own. */
    private ElementType outputType(MergePlan.Step step) {
        return request.outputType() != null ? request.outputType() : step.first().type();
    }

    /**
     * {@code step}'s merge in slices of {@code inputs}, when merging it whole would take more than the jobs' budget
     * and the method can merge it in slices; otherwise null. Diagnostics, if {@code diagnostics}, go to {@code sink}.
     */
    private SlicedMergeJob slicedMerge(MergePlan.Step step, boolean diagnostics, SlicedMergeJob.Inputs inputs,
                                       TensorReader reader, long jobBudget, int threads, List<TensorDiagnostics> sink,
                                       Object prepared) {
        if (workingBytes(inputs.count(), reader) <= jobBudget || request.method().sliced(reader.header(step,
                new TensorDiagnostics.Recorder(reader.modelCount()), prepared)) == null) {
            return null;
        }
        Weight table = step.first();
        boolean methodRecords = request.method().recordsTaskVectors();
        TaskVectorStats stats = diagnostics ? new TaskVectorStats(reader.modelCount(), request.base() != null) : null;
        TensorDiagnostics.Recorder recorder = new TensorDiagnostics.Recorder(reader.modelCount(),
                methodRecords ? stats : null);
        Integer layer = reader.layer(table);
        return new SlicedMergeJob(inputs, () -> request.method().sliced(reader.header(step, recorder, prepared)),
                methodRecords ? null : stats,
                diagnostics ? () -> sink.add(stats.finish(table.name(), layer).withTrimmed(recorder.trimmed())) : null,
                SlicedMergeJob.sliceFor(jobBudget / Math.max(1, threads), step.sources().size() + 2));
    }

    /** Bytes a merge of {@code n} values holds: base, models and result, and what the method allocates besides. */
    private long workingBytes(long n, TensorReader reader) {
        return n * 4L * (reader.modelCount() + 2) + request.method().scratchBytes(n, reader.modelCount());
    }

    /**
     * {@code step}'s merged values, in an array from {@code pool} (the caller releases it), recording its diagnostics
     * in {@code sink} if {@code diagnostics}.
     */
    private float[] mergeValues(MergePlan.Step step, boolean diagnostics, TensorReader reader, ArrayPool pool,
                                List<TensorDiagnostics> sink, Object prepared) throws Exception {
        String name = step.first().name();
        Integer layer = reader.layer(step.first());
        List<float[]> inputs = new ArrayList<>();
        java.util.function.IntFunction<float[]> borrow = size -> {
            float[] a = pool.floats(size);
            inputs.add(a);
            return a;
        };
        try {
            boolean methodRecords = diagnostics && request.method().recordsTaskVectors();
            TaskVectorStats taskVectors = methodRecords
                    ? new TaskVectorStats(reader.modelCount(), request.base() != null)
                    : null;
            TensorDiagnostics.Recorder recorder = new TensorDiagnostics.Recorder(reader.modelCount(), taskVectors);
            float[] result = null;
            TensorDiagnostics before = null;
            try (TensorInputs in = reader.read(step, borrow, recorder, prepared)) {
                result = pool.floats(in.models()[0].length);
                // measured before the merge, which may overwrite the model arrays, unless the method records
                // them as it goes; trimming is recorded during the merge
                before = diagnostics && !methodRecords ? TaskVectorStats.of(name, layer, in.base(), in.models()) : null;
                request.method().merge(in, result);
            }
            if (diagnostics) {
                TensorDiagnostics stats = methodRecords ? taskVectors.finish(name, layer) : before;
                sink.add(stats.withTrimmed(recorder.trimmed()));
            }
            return result;
        } finally {
            inputs.forEach(pool::release);
        }
    }

    /**
     * The rewrite of one quantized weight (codes, scales, zero points) from one merge of its dequantized values in
     * every model ({@code codes}' step): in slices of whole columns when merging it whole would take more than the
     * jobs' budget, the method can, and the codes come before the other parts in the output; else whole.
     */
    private QuantizedRewrite quantizedMerge(MergePlan.Step codes, MergePlan plan, TensorReader reader, ArrayPool pool,
                                            long jobBudget, int threads, List<TensorDiagnostics> sink, Object prepared,
                                            List<MergeReport.QuantizationError> errors) {
        QuantizedMatMul q = codes.quantized().get(0);
        int n = q.quantization().k() * q.quantization().n();
        int first = plan.steps().indexOf(codes);
        boolean codesFirst = plan.steps().indexOf(plan.step(q.scales().name())) > first
                && (q.zeroPoints() == null || plan.steps().indexOf(plan.step(q.zeroPoints().name())) > first);
        SlicedMergeJob sliced = codesFirst ? slicedMerge(codes, request.diagnostics(), SlicedMergeJob.quantized(
                codes.quantized(), request.base() != null), reader, jobBudget, threads, sink, prepared) : null;
        if (sliced != null) {
            return QuantizedRewrite.sliced(q, sliced, pool, errors::add);
        }
        return new QuantizedRewrite(q, () -> {
            float[] merged = mergeValues(codes, request.diagnostics(), reader, pool, sink, prepared);
            try {
                return Arrays.copyOf(merged, n);
            } finally {
                pool.release(merged);
            }
        }, errors::add, workingBytes(n, reader));
    }

    /** The quantization errors by weight name, for output that does not depend on the order jobs ran in. */
    private static List<MergeReport.QuantizationError> sortedErrors(List<MergeReport.QuantizationError> errors) {
        synchronized (errors) {
            return errors.stream().sorted(java.util.Comparator.comparing(MergeReport.QuantizationError::weight))
                    .toList();
        }
    }


    private static List<TensorDiagnostics> order(List<TensorDiagnostics> found, MergePlan plan) {
        Map<String, TensorDiagnostics> byName = new LinkedHashMap<>();
        synchronized (found) {
            for (TensorDiagnostics d : found) {
                byName.put(d.tensor(), d);
            }
        }
        List<TensorDiagnostics> out = new ArrayList<>();
        for (MergePlan.Step s : plan.steps()) {
            TensorDiagnostics d = byName.get(s.first().name());
            if (d != null) {
                out.add(d);
            }
        }
        return out;
    }

}
