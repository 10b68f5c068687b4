package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.index.GraphIndex;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WrittenFiles;
import dev.graft.plan.MergeReport;
import dev.graft.plan.QuantizedRewrite;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Merges weighted LoRA adapters into an ONNX model's weights (Hu et al., ICLR 2022): each targeted dense weight
 * becomes {@code W + Σₖ wₖ·sₖ·Bₖ·Aₖ} ({@link LoraModule#delta()}, the scale folded in once; transposed for a
 * weight stored {@code [in, out]}), a trained bias of an adapter ({@code bias: all | lora_only}) replaces the
 * model's, and everything else is copied. An int4/int8 {@code MatMulNBits} weight is updated as the float weight its
 * codes stand for, then quantized again as it was stored ({@link QuantizedRewrite}). Weights are computed and written as a merge's are (in parallel, under a
 * memory budget, atomically), in their own element type; provenance records operation {@code lora-apply}.
 */
public final class LoraApply {
    /** One module applied: adapter folder, module, ONNX weight, rank, scale and the adapter's weight. */
    public record Applied(String adapter, String module, String weight, int rank, double scale, double adapterWeight) {
    }

    /**
     * What was applied, and the files written; for each quantized ({@code MatMulNBits}) weight updated, the error of
     * quantizing the updated values again.
     */
    public record Report(String model, List<Applied> modules, List<String> biases, List<String> files,
                         List<MergeReport.QuantizationError> quantization) {
    }

    private final Path base;
    private final List<Path> folders = new ArrayList<>();
    private final List<Double> weights = new ArrayList<>();
    private final Map<String, String> mapping = new LinkedHashMap<>();
    private ProgressListener progress = ProgressListener.NONE;

    private LoraApply(Path base) {
        this.base = base;
    }

    /** Applies adapters to {@code base}. */
    public static LoraApply to(Path base) {
        return new LoraApply(base);
    }

    /** A PEFT adapter folder, at weight 1. */
    public LoraApply adapter(Path folder) {
        return adapter(folder, 1.0);
    }

    /** A PEFT adapter folder and the weight its update is multiplied by. */
    public LoraApply adapter(Path folder, double weight) {
        folders.add(folder);
        weights.add(weight);
        return this;
    }

    /** Module names mapped to initializer names, for modules the graph's node names do not reveal. */
    public LoraApply mapping(Map<String, String> moduleToWeight) {
        mapping.putAll(moduleToWeight);
        return this;
    }

    /** Told of each tensor written. */
    public LoraApply progress(ProgressListener p) {
        this.progress = p;
        return this;
    }

    /**
     * Writes the model with the adapters merged to {@code target}.
     *
     * @throws AdapterFormatException if an adapter is malformed or refused (DoRA, embedding LoRA, ...)
     * @throws dev.graft.GraftException naming the adapter file and module when a module matches no weight of the
     *                                  model or has other widths; or when a file cannot be read or written
     * @throws InvalidSettingException if no adapter was given
     */
    public Report writeTo(Path target) {
        if (folders.isEmpty()) {
            throw new InvalidSettingException("no adapter to apply: call adapter(...)");
        }
        List<PeftAdapter> adapters = folders.stream().map(PeftAdapter::read).toList();
        try (OnnxModel model = OnnxModel.open(base)) {
            ModuleMap map = new ModuleMap(model, mapping);
            Map<String, List<Update>> updates = new HashMap<>();
            Map<String, float[]> biases = new LinkedHashMap<>();
            List<Applied> applied = new ArrayList<>();
            for (int k = 0; k < adapters.size(); k++) {
                PeftAdapter adapter = adapters.get(k);
                for (LoraModule m : adapter.modules().values()) {
                    ModuleMap.Target t = map.find(m.name());
                    if (t.in() != m.in() || t.out() != m.out()) {
                        throw new GraftException(folders.get(k).resolve(PeftAdapter.WEIGHTS), m.name(), "updates "
                                + m.in() + " → " + m.out() + " features but weight '" + t.weight() + "' of " + base
                                + " is " + t.in() + " → " + t.out());
                    }
                    updates.computeIfAbsent(t.weight(), w -> new ArrayList<>()).add(new Update(m, weights.get(k), t));
                    applied.add(new Applied(folders.get(k).toString(), m.name(), t.weight(), m.rank(), m.scale(),
                            weights.get(k)));
                }
                for (Map.Entry<String, float[]> b : adapter.biases().entrySet()) {
                    ModuleMap.Target t = map.find(b.getKey());
                    if (t.bias() == null || b.getValue().length != t.out()) {
                        throw new GraftException(folders.get(k).resolve(PeftAdapter.WEIGHTS), b.getKey() + ".bias",
                                "has " + b.getValue().length + " values; module '" + b.getKey() + "' of " + base
                                        + (t.bias() == null ? " has no bias" : " has " + t.out() + " outputs"));
                    }
                    biases.put(t.bias(), b.getValue());
                }
            }
            for (TiedWeights.Tie t : TiedWeights.of(model, GraphIndex.of(model))) {
                // an embedding and its copy for the head are one tensor: an update to either is made to both
                tie(updates, t.copy(), t.table(), t.transposed(), model);
                tie(updates, t.table(), t.copy(), t.transposed(), model);
            }
            RewritePlan.Builder plan = RewritePlan.of("lora-apply", model.proto()).input(model)
                    .companionsOf(model.file());
            for (int k = 0; k < folders.size(); k++) {
                plan.parameter("adapter." + k, folders.get(k) + ":" + weights.get(k));
            }
            Map<String, QuantizedMatMul> quantized = QuantizedMatMul.byPart(model);
            Map<String, QuantizedRewrite> rewrites = new HashMap<>();
            List<MergeReport.QuantizationError> errors = java.util.Collections.synchronizedList(new ArrayList<>());
            for (Weight w : model.initializers()) {
                QuantizedMatMul q = quantized.get(w.name());
                if (q != null && updates.containsKey(q.codes().name())) {
                    List<Update> u = updates.get(q.codes().name());
                    long n = (long) q.quantization().k() * q.quantization().n();
                    plan.add(rewrites.computeIfAbsent(q.codes().name(), c -> new QuantizedRewrite(q, () -> {
                        float[] columns = new float[(int) n]; // [N, K]: the weight's columns as rows
                        q.dequantizeColumns(columns);
                        return add(columns, u.stream().map(Update::asColumnRows).toList());
                    }, errors::add, 4L * n)).part(w));
                    continue;
                }
                List<Update> u = updates.get(w.name());
                float[] bias = biases.get(w.name());
                if (u != null) {
                    plan.compute(OutputTensor.like(w, w.type(), () -> add(w.toFloats(), u)), w.elementCount() * 8);
                } else if (bias != null) {
                    plan.compute(OutputTensor.like(w, w.type(), bias::clone), w.elementCount() * 4);
                } else {
                    plan.copy(w);
                }
            }
            WrittenFiles files = Rewriter.write(plan.build(), target, Execution.defaults().withProgress(progress))
                    .files();
            List<MergeReport.QuantizationError> quantization = errors.stream()
                    .sorted(java.util.Comparator.comparing(MergeReport.QuantizationError::weight)).toList();
            return new Report(base.toString(), applied, List.copyOf(biases.keySet()), files.names(), quantization);
        }
    }

    /**
     * The updates to {@code from} made to {@code to} too, when only {@code from} has updates: {@code to} holds the
     * same values, transposed if {@code transposed} (the embedding {@code [rows, dim]} and a MatMul head
     * {@code [dim, rows]}).
     */
    private static void tie(Map<String, List<Update>> updates, String from, String to, boolean transposed,
                            OnnxModel model) {
        List<Update> source = updates.get(from);
        if (source == null || updates.containsKey(to)) {
            return;
        }
        long[] shape = model.weight(to).orElseThrow().shape();
        List<Update> copies = new ArrayList<>();
        for (Update u : source) {
            // the update's [out, in] matrix lands in the other tensor: at [out, in] where that is stored [rows, dim]
            // with rows = out (transposed tie, or a Gemm head stored [out, in] like the table), else at [in, out]
            boolean inOut = transposed ? !u.target().inOut() : u.target().inOut();
            ModuleMap.Target t = new ModuleMap.Target(to, inOut, u.target().in(), u.target().out(), null, 0,
                    u.target().out());
            if (t.in() * t.out() != shape[0] * shape[1]) {
                return;
            }
            copies.add(new Update(u.module(), u.weight(), t));
        }
        updates.put(to, copies);
    }

    /** One module's update to one weight, times the adapter's weight. */
    private record Update(LoraModule module, double weight, ModuleMap.Target target) {
        /** The update to the quantized weight's {@code [N, K]} columns-as-rows, which a merge holds ({@code [out, in]}). */
        Update asColumnRows() {
            ModuleMap.Target t = target;
            return new Update(module, weight, new ModuleMap.Target(t.weight(), false, t.in(), t.out(), t.bias(),
                    t.offset(), t.stored()));
        }
    }

    private static float[] add(float[] w, List<Update> updates) {
        for (Update u : updates) {
            float[] d = u.module().delta();
            int in = u.module().in();
            for (int o = 0; o < u.module().out(); o++) {
                for (int i = 0; i < in; i++) {
                    w[u.target().at(o, i)] += (float) (u.weight() * d[o * in + i]);
                }
            }
        }
        return w;
    }
}
