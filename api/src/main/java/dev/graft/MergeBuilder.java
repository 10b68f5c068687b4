package dev.graft;

import dev.graft.exec.ArrayPool;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WeightReader;
import dev.graft.onnx.WriteOptions;
import dev.graft.onnx.WrittenFiles;
import dev.graft.plan.LayerSummary;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergeReport;
import dev.graft.plan.ModelAligner;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.ResolvedParameters;
import dev.graft.plan.Setting;
import dev.graft.plan.TaskVectorStats;
import dev.graft.plan.TensorDiagnostics;
import dev.graft.plan.TensorInputs;
import dev.graft.tensor.ElementType;
import com.google.common.hash.Hashing;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Fluent description of a merge of models with identical structure, run by {@link #writeTo(Path)}. The output
 * has the graph of the base model if there is one, else of the first model; each floating-point initializer
 * is replaced by the method's merge of that tensor (see {@link MergePlan}). Parameters follow mergekit: each
 * model's settings, then global settings, then the method's defaults; a setting may vary per tensor (see
 * {@link Setting}). Tensors are read, merged and written one at a time, several in parallel, under a memory
 * budget; output bytes do not depend on the thread count.
 *
 * <pre>{@code
 * MergeReport r = Graft.merge().base(base).model(a, 1.0).model(b, 1.0)
 *     .method(MergeMethods.create("ties")).parameter("density", 0.5).writeTo(out);
 * }</pre>
 */
public final class MergeBuilder {
    private Path base;
    private final List<Path> models = new ArrayList<>();
    private final List<Map<String, Setting>> modelSettings = new ArrayList<>();
    private final Map<String, Setting> globalSettings = new LinkedHashMap<>();
    private MergeMethod method;
    private ElementType outputType;
    private WriteOptions.Layout layout = WriteOptions.Layout.AUTO;
    private Execution execution = Execution.defaults();
    private long seed;
    private boolean diagnostics = true;
    private boolean sync = true;
    private ModelAligner aligner;

    MergeBuilder() {
    }

    /** The base model: the origin of task vectors, and the graph of the output. */
    public MergeBuilder base(Path file) {
        this.base = Objects.requireNonNull(file);
        return this;
    }

    /** Adds a model with parameter {@code weight}. */
    public MergeBuilder model(Path file, double weight) {
        return model(file, Map.of("weight", Setting.of(weight)));
    }

    /** Adds a model with its own parameter settings (e.g. {@code weight}, {@code density}). */
    public MergeBuilder model(Path file, Map<String, Setting> settings) {
        models.add(Objects.requireNonNull(file));
        modelSettings.add(new LinkedHashMap<>(settings));
        return this;
    }

    /** Sets a global parameter for every tensor. */
    public MergeBuilder parameter(String name, double value) {
        return parameter(name, Setting.of(value));
    }

    /** Sets a global parameter that may vary per tensor. */
    public MergeBuilder parameter(String name, Setting setting) {
        globalSettings.put(Objects.requireNonNull(name), Objects.requireNonNull(setting));
        return this;
    }

    /** The per-tensor method, e.g. {@code new Linear()} from {@code graft-merge}. */
    public MergeBuilder method(MergeMethod m) {
        this.method = Objects.requireNonNull(m);
        return this;
    }

    /** Seed of the random methods (DARE, DELLA); each tensor's stream derives from (seed, model, tensor name). */
    public MergeBuilder seed(long s) {
        this.seed = s;
        return this;
    }

    /**
     * Store merged tensors as float32, float16 or bfloat16 (default: each tensor's type in the reference).
     *
     * @throws InvalidSettingException if {@code type} is not a floating-point type
     */
    public MergeBuilder outputType(ElementType type) {
        if (!type.isFloatingPoint()) {
            throw new InvalidSettingException("output type must be floating point, got " + type.displayName());
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
        this.execution = execution.withThreads(n);
        return this;
    }

    /** Bytes the tensors in flight may hold together (default: a quarter of the heap, at most 1 GiB). */
    public MergeBuilder memoryBudget(long bytes) {
        this.execution = execution.withMemoryBudget(bytes);
        return this;
    }

    /** Collect diagnostics per tensor and per layer (default true; costs one more pass over each tensor). */
    public MergeBuilder diagnostics(boolean on) {
        this.diagnostics = on;
        return this;
    }

    /**
     * Aligns every model to the reference (the base if there is one, else the first model) before merging, so
     * that models trained from different starts are merged unit by unit; {@code dev.graft.align.Alignment} in
     * {@code graft-merge} is one. Aligned copies go to a temporary folder beside the output, deleted afterwards.
     */
    public MergeBuilder align(ModelAligner a) {
        this.aligner = Objects.requireNonNull(a);
        return this;
    }

    /** Sync the files to disk before moving them into place (default true: safe against power loss). */
    public MergeBuilder sync(boolean s) {
        this.sync = s;
        return this;
    }

    public MergeBuilder progress(ProgressListener listener) {
        this.execution = execution.withProgress(listener);
        return this;
    }

    /**
     * Checks the description without reading any model: a method and models are set, a base is given if the
     * method needs one, and every parameter is one the method reads.
     *
     * @throws InvalidSettingException naming what is wrong
     */
    public MergeBuilder validate() {
        if (method == null) {
            throw new InvalidSettingException("no merge method set: call method(...) first");
        }
        if (models.isEmpty()) {
            throw new InvalidSettingException("no models to merge: call model(...) first");
        }
        if (method.needsBase() && base == null) {
            throw new InvalidSettingException("merge method '" + method.name() + "' needs a base model");
        }
        checkedSpecs();
        return this;
    }

    /**
     * Runs the merge and writes the result atomically to {@code target}.
     *
     * @throws InvalidSettingException  if the description is incomplete or names a parameter the method lacks
     * @throws IncompatibleModelsException if the models do not have the same tensors
     * @throws GraftException           if a model cannot be read or the output cannot be written
     */
    public MergeReport writeTo(Path target) {
        validate();
        if (aligner == null) {
            return merge(target, models, List.of());
        }
        try (TemporaryFolder folder = TemporaryFolder.in(target.toAbsolutePath().getParent(), ".graft-align-")) {
            Path reference = base != null ? base : models.get(0);
            List<Path> aligned = new ArrayList<>();
            List<Map<String, Object>> reports = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                Path m = models.get(i);
                if (base == null && i == 0) {
                    aligned.add(m);
                    continue;
                }
                ModelAligner.Aligned a = aligner.align(m, reference, folder.resolve("aligned-" + i + ".onnx"));
                aligned.add(a.file());
                reports.add(a.report());
            }
            return merge(target, aligned, reports);
        }
    }

    /** The merge of {@code files} (the models, aligned if asked); provenance hashes the models as given. */
    private MergeReport merge(Path target, List<Path> files, List<Map<String, Object>> alignments) {
        Map<String, ParameterSpec> specs = checkedSpecs();
        long start = System.nanoTime();
        List<OnnxModel> opened = new ArrayList<>();
        List<OnnxModel> originals = new ArrayList<>();
        try {
            if (base != null) {
                opened.add(OnnxModel.open(base));
            }
            for (Path p : files) {
                opened.add(OnnxModel.open(p));
            }
            for (int i = 0; i < opened.size(); i++) {
                Path given = base != null && i == 0 ? base : models.get(i - (base != null ? 1 : 0));
                originals.add(given.equals(opened.get(i).file()) ? opened.get(i) : OnnxModel.open(given));
            }
            OnnxModel reference = opened.get(0);
            List<OnnxModel> inputs = opened.subList(base == null ? 0 : 1, opened.size());
            MergePlan plan = MergePlan.of(opened);
            Depths depths = new Depths(GraphIndex.of(reference));
            List<TensorDiagnostics> tensorDiagnostics = Collections.synchronizedList(new ArrayList<>());
            // idle pooled arrays and the jobs in flight share the budget: a quarter for the pool, the rest for jobs
            long poolBytes = execution.memoryBudget() / 4;
            ArrayPool pool = new ArrayPool(poolBytes);
            TensorReader reader = new TensorReader(inputs, depths, specs);
            ResolvedParameters modelWide = new ResolvedParameters("", 0, specs, globalSettings, modelSettings);
            Object prepared = method.needsPreparation(modelWide) ? method.prepare(visitor -> {
                for (MergePlan.Step step : plan.steps()) {
                    if (step.merge()) {
                        try (TensorInputs in = reader.read(step.first(), float[]::new, null, null)) {
                            visitor.accept(in);
                        }
                    }
                }
            }, modelWide) : null;
            Map<String, String> params = describe();
            RewritePlan.Builder rewrite = RewritePlan.of("merge", reference.proto()).parameters(params)
                    .layout(layout).sync(sync);
            originals.forEach(rewrite::input);
            List<MergeReport.Unmerged> unmerged = new ArrayList<>();
            int merged = 0;
            for (MergePlan.Step step : plan.steps()) {
                if (step.merge()) {
                    rewrite.add(mergeJob(step.first(), reader, pool, tensorDiagnostics, prepared));
                    merged++;
                } else {
                    rewrite.copy(step.first());
                    unmerged.add(new MergeReport.Unmerged(step.first().name(), step.reason()));
                }
            }
            for (MergePlan.Ignored i : plan.ignored()) {
                unmerged.add(new MergeReport.Unmerged(i.tensor(), i.reason()));
            }
            Rewriter.Result result = Rewriter.write(rewrite.build(), target,
                    execution.withMemoryBudget(Math.max(1, execution.memoryBudget() - poolBytes)));
            WrittenFiles written = result.files();
            MergeReport.Input baseInput = null;
            List<MergeReport.Input> reportInputs = new ArrayList<>();
            for (int i = 0; i < opened.size(); i++) {
                Provenance.Input in = result.provenance().inputs().get(i);
                if (base != null && i == 0) {
                    baseInput = new MergeReport.Input(in.file(), Map.of(), in.sha256());
                } else {
                    reportInputs.add(new MergeReport.Input(in.file(),
                            describe(modelSettings.get(i - (base == null ? 0 : 1))), in.sha256()));
                }
            }
            List<TensorDiagnostics> ordered = order(tensorDiagnostics, plan);
            return new MergeReport(written.names(), method.name(), params, baseInput, reportInputs, merged, unmerged,
                    written.bytes(), (System.nanoTime() - start) / 1e9, LayerSummary.of(ordered), ordered, alignments);
        } finally {
            for (int i = 0; i < originals.size(); i++) {
                if (originals.get(i) != opened.get(i)) {
                    originals.get(i).close();
                }
            }
            opened.forEach(OnnxModel::close);
        }
    }

    /** The method's parameter specs; refuses settings the method does not read, and required ones left unset. */
    private Map<String, ParameterSpec> checkedSpecs() {
        Map<String, ParameterSpec> specs = new LinkedHashMap<>();
        for (ParameterSpec s : method.parameters()) {
            specs.put(s.name(), s);
        }
        for (String name : globalSettings.keySet()) {
            if (!specs.containsKey(name)) {
                throw new InvalidSettingException("merge method '" + method.name() + "' has no parameter '" + name
                        + "' (it has " + specs.keySet() + ")");
            }
        }
        for (int i = 0; i < modelSettings.size(); i++) {
            for (String name : modelSettings.get(i).keySet()) {
                ParameterSpec s = specs.get(name);
                if (s == null || s.scope() != ParameterSpec.Scope.MODEL) {
                    throw new InvalidSettingException("merge method '" + method.name() + "' has no per-model "
                            + "parameter '" + name + "' (given for " + models.get(i).getFileName() + "; per-model "
                            + "parameters: " + specs.values().stream().filter(p -> p.scope() == ParameterSpec.Scope.MODEL)
                            .map(ParameterSpec::name).toList() + ")");
                }
            }
        }
        for (ParameterSpec spec : specs.values()) {
            if (spec.defaultValue() != null || globalSettings.containsKey(spec.name())) {
                continue;
            }
            for (int i = 0; i < modelSettings.size(); i++) {
                if (spec.scope() == ParameterSpec.Scope.GLOBAL || !modelSettings.get(i).containsKey(spec.name())) {
                    throw new InvalidSettingException("merge method '" + method.name() + "' needs parameter '"
                            + spec.name() + "' (" + spec.description() + ")"
                            + (spec.scope() == ParameterSpec.Scope.MODEL ? ", missing for " + models.get(i).getFileName()
                            : ""));
                }
            }
        }
        return specs;
    }

    private Map<String, String> describe() {
        Map<String, String> params = new LinkedHashMap<>();
        params.put("method", method.name());
        globalSettings.forEach((k, v) -> params.put(k, v.toString()));
        params.put("seed", Long.toString(seed));
        if (aligner != null) {
            params.put("align", aligner.describe());
        }
        for (int i = 0; i < models.size(); i++) {
            params.put("model" + i, models.get(i).getFileName() + " " + describe(modelSettings.get(i)));
        }
        if (outputType != null) {
            params.put("dtype", outputType.displayName());
        }
        return params;
    }

    private static Map<String, String> describe(Map<String, Setting> settings) {
        Map<String, String> m = new TreeMap<>();
        settings.forEach((k, v) -> m.put(k, v.toString()));
        return m;
    }

    /**
     * Reads one merged tensor of every input into arrays from {@code alloc}, with its layout, depth, parameters
     * and random seed: the same for a method's model-wide preparation and for the merge itself.
     */
    private final class TensorReader {
        private final List<OnnxModel> inputs;
        private final Depths depths;
        private final Map<String, ParameterSpec> specs;

        TensorReader(List<OnnxModel> inputs, Depths depths, Map<String, ParameterSpec> specs) {
            this.inputs = inputs;
            this.depths = depths;
            this.specs = specs;
        }

        int modelCount() {
            return inputs.size();
        }

        Integer layer(Weight ref) {
            IndexedWeight w = depths.index.get(ref.name()).orElseThrow();
            return w.layer().isPresent() ? w.layer().getAsInt() : null;
        }

        /** The inputs of one tensor, read from the files as the method asks for them; close after use. */
        TensorInputs read(Weight ref, java.util.function.IntFunction<float[]> alloc,
                          TensorDiagnostics.Recorder recorder, Object prepared) {
            String name = ref.name();
            int n = (int) ref.elementCount();
            float[] baseValues = base != null ? alloc.apply(n) : null;
            float[][] values = new float[inputs.size()][];
            WeightReader[] readers = new WeightReader[values.length + 1];
            for (int m = 0; m < values.length; m++) {
                values[m] = alloc.apply(n);
            }
            WeightRole role = depths.index.get(name).orElseThrow().role();
            boolean inOut = role.storedInOut();
            long tensorSeed = Hashing.murmur3_128().newHasher().putLong(seed)
                    .putString(name, StandardCharsets.UTF_8).hash().asLong();
            TensorInputs.Loader loader = new TensorInputs.Loader() {
                @Override
                public void load(int from, int to) {
                    if (baseValues != null) {
                        reader(values.length, ref).read(baseValues, from, to - from);
                    }
                    for (int m = 0; m < values.length; m++) {
                        reader(m, inputs.get(m).weight(name).orElseThrow()).read(values[m], from, to - from);
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
            return new TensorInputs(name, ref.shape(), inOut, baseValues, values, loader,
                    new ResolvedParameters(name, depths.of(name), specs, globalSettings, modelSettings), tensorSeed,
                    recorder != null ? recorder : new TensorDiagnostics.Recorder(values.length), prepared);
        }
    }

    private TensorJob mergeJob(Weight ref, TensorReader reader, ArrayPool pool, List<TensorDiagnostics> sink,
                               Object prepared) {
        ElementType type = outputType != null ? outputType : ref.type();
        int n = (int) ref.elementCount();
        Integer layer = reader.layer(ref);
        float[][] result = new float[1][];
        OutputTensor tensor = OutputTensor.like(ref, type, () -> {
            List<float[]> inputs = new ArrayList<>();
            java.util.function.IntFunction<float[]> borrow = size -> {
                float[] a = pool.floats(size);
                inputs.add(a);
                return a;
            };
            try {
                boolean methodRecords = diagnostics && method.recordsTaskVectors();
                TaskVectorStats taskVectors = methodRecords ? new TaskVectorStats(reader.modelCount(), base != null)
                        : null;
                TensorDiagnostics.Recorder recorder = new TensorDiagnostics.Recorder(reader.modelCount(), taskVectors);
                result[0] = pool.floats(n);
                TensorDiagnostics before = null;
                try (TensorInputs in = reader.read(ref, borrow, recorder, prepared)) {
                    // measured before the merge, which may overwrite the model arrays, unless the method records
                    // them as it goes; trimming is recorded during the merge
                    before = diagnostics && !methodRecords
                            ? TaskVectorStats.of(ref.name(), layer, in.base(), in.models()) : null;
                    method.merge(in, result[0]);
                }
                if (diagnostics) {
                    TensorDiagnostics stats = methodRecords ? taskVectors.finish(ref.name(), layer) : before;
                    sink.add(stats.withTrimmed(recorder.trimmed()));
                }
                return result[0];
            } finally {
                inputs.forEach(pool::release);
            }
        }).onWritten(() -> {
            pool.release(result[0]);
            result[0] = null;
        });
        // base, models and result, and whatever the method allocates besides
        long working = n * 4L * (reader.modelCount() + 2) + method.scratchBytes(n, reader.modelCount());
        return new TensorJob(tensor, working);
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

    /**
     * Depth {@code t ∈ [0,1]} of each tensor for gradient settings: {@code layer / (layers − 1)} for tensors of
     * numbered layers; tensors outside layers get 0 if they come before the first layered tensor in the model's
     * order and 1 if after the last (embeddings and heads, as mergekit's pre- and post-weights).
     */
    private static final class Depths {
        final GraphIndex index;
        private final Map<String, Double> t = new LinkedHashMap<>();

        Depths(GraphIndex index) {
            this.index = index;
            int maxLayer = -1;
            for (IndexedWeight w : index.weights()) {
                if (w.layer().isPresent()) {
                    maxLayer = Math.max(maxLayer, w.layer().getAsInt());
                }
            }
            boolean seenLayer = false;
            List<String> pending = new ArrayList<>();
            for (IndexedWeight w : index.weights()) {
                if (!w.weight().scope().isEmpty()) {
                    continue;
                }
                if (w.layer().isPresent()) {
                    seenLayer = true;
                    t.put(w.name(), maxLayer <= 0 ? 0.0 : (double) w.layer().getAsInt() / maxLayer);
                    for (String p : pending) {
                        t.put(p, 0.0); // between layers: treat as the start, like mergekit's layer-less weights
                    }
                    pending.clear();
                } else if (!seenLayer) {
                    t.put(w.name(), 0.0);
                } else {
                    pending.add(w.name());
                }
            }
            for (String p : pending) {
                t.put(p, 1.0);
            }
        }

        double of(String name) {
            return t.getOrDefault(name, 0.0);
        }
    }
}
