package dev.graft;

import dev.graft.exec.Execution;
import dev.graft.exec.ProgressListener;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.onnx.WriteOptions;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergeReport;
import dev.graft.plan.MergeRun;
import dev.graft.plan.MergedWeights;
import dev.graft.plan.ModelAligner;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.Setting;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiFunction;

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
        return aligned(target.toAbsolutePath().getParent(), (files, reports) -> run().write(target, files, reports));
    }

    /**
     * Runs the merge in memory, writing no model: the merged tensors' float32 values and the model file they go
     * with (the base, or the first model), for evaluating the merge directly (an evaluation {@code Candidate}).
     * Every merged tensor is held at once.
     *
     * @throws InvalidSettingException  if the description is incomplete or names a parameter the method lacks
     * @throws IncompatibleModelsException if the models do not have the same tensors
     * @throws GraftException           if a model cannot be read
     */
    public MergedWeights inMemory() {
        validate();
        return aligned(Path.of(System.getProperty("java.io.tmpdir")), (files, reports) -> run().compute(files));
    }

    /** Runs {@code merge} on the models, aligned first (into a temporary folder in {@code scratch}) if asked. */
    private <T> T aligned(Path scratch, BiFunction<List<Path>, List<Map<String, Object>>, T> merge) {
        if (aligner == null) {
            return merge.apply(models, List.of());
        }
        try (TemporaryFolder folder = TemporaryFolder.in(scratch, ".graft-align-")) {
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
            return merge.apply(aligned, reports);
        }
    }

    private MergeRun run() {
        return new MergeRun(new MergeRun.Request(base, models, modelSettings, globalSettings, checkedSpecs(), method,
                outputType, layout, execution, seed, diagnostics, sync, describe()));
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
        globalSettings.forEach((name, value) -> checkRange(specs.get(name), value, "the merge"));
        for (int i = 0; i < modelSettings.size(); i++) {
            String model = models.get(i).getFileName().toString();
            modelSettings.get(i).forEach((name, value) -> checkRange(specs.get(name), value, model));
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

    private void checkRange(ParameterSpec spec, Setting value, String where) {
        if (!spec.admits(value)) {
            throw new InvalidSettingException("merge method '" + method.name() + "': parameter '" + spec.name()
                    + "' (" + spec.description() + ") must lie in " + spec.range() + ", got " + value + " for "
                    + where);
        }
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
            params.put("model" + i, models.get(i).getFileName() + " " + Setting.describe(modelSettings.get(i)));
        }
        if (outputType != null) {
            params.put("dtype", outputType.displayName());
        }
        return params;
    }
}
