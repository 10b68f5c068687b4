package dev.graft.adapters;

import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.GraftException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.graph.GraphEdit;
import dev.graft.index.GraphIndex;
import dev.graft.index.LoraSlots;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Run-time LoRA adapters: a graph whose targeted dense layers carry a LoRA branch, so that an application can
 * switch adapters per request without reloading the model (ONNX Runtime's {@code OrtLoraAdapter} and
 * {@code RunOptions.addActiveLoraAdapter}, or by feeding the inputs). For a layer {@code y = x·W} (MatMul) or
 * {@code y = Gemm(x, W, c)}, the node's result becomes {@code y₀} and {@code y = y₀ + (x·{module}.lora_A)·
 * {module}.lora_B} (a head tied to the token embedding gives the embedding's lookup the same update, transposed,
 * as {@link LoraApply} does), where {@code {module}.lora_A} ({@code [in, r]}, {@code Aᵀ}) and {@code {module}.lora_B}
 * ({@code [r, out]}, {@code s·Bᵀ}, the scale folded in) are graph inputs with a symbolic rank and zero defaults
 * (initializers of rank 1), so without an adapter the model computes the base function. {@link #export} writes a
 * PEFT adapter's factors as those inputs, in an {@code .onnx_adapter} file; for a graph whose slots Olive made
 * ({@code {module}.lora_A.weight}, {@link LoraSlots}) it writes them under Olive's names, as Olive's
 * {@code convert-adapters} does.
 */
public final class LoraRuntime {
    private LoraRuntime() {
    }

    /** The input holding module {@code module}'s {@code Aᵀ}. */
    public static String inputA(String module) {
        return module + ".lora_A";
    }

    /** The input holding module {@code module}'s {@code s·Bᵀ}. */
    public static String inputB(String module) {
        return module + ".lora_B";
    }

    /**
     * Writes {@code base} with LoRA branches on {@code modules} to {@code target}; returns the weights branched.
     * Modules that already have a LoRA input slot ({@link LoraSlots}: Olive's ExtractAdapters, or an earlier
     * {@code lora export}) keep it and get no second branch.
     */
    public static List<String> graph(Path base, Collection<String> modules, Map<String, String> mapping, Path target) {
        LoraSlots slots;
        try (OnnxModel model = OnnxModel.open(base)) {
            slots = LoraSlots.of(model);
        }
        List<String> unslotted = modules.stream().filter(m -> slots.of(m).isEmpty()).toList();
        return write(base, unslotted, mapping, target, "lora-runtime", (module, t, edit, tensors) -> {
            String a = inputA(module);
            String b = inputB(module);
            edit.addInput(input(a, t.in(), -1, module));
            edit.addInput(input(b, -1, t.out(), module));
            tensors.add(factor(OutputTensor.of(a, ElementType.FLOAT, new long[] {t.in(), 1},
                    () -> new float[(int) t.in()])));
            tensors.add(factor(OutputTensor.of(b, ElementType.FLOAT, new long[] {1, t.out()},
                    () -> new float[(int) t.out()])));
            return new Factors(a, b);
        }, Map.of(), List.of());
    }

    /**
     * Writes {@code base} with {@code adapter}'s factors (times {@code weight}) baked in as LoRA branches whose
     * factors are initializers: a factor {@code A} that several modules share (equal values, as {@link LoraShare}
     * writes them) is one initializer read by all of them, so the file holds it once. Returns the weights branched.
     */
    public static List<String> baked(Path base, PeftAdapter adapter, double weight, Map<String, String> mapping,
                                     Path target) {
        requireNoBiases(adapter, target);
        Map<String, String> sharedA = sharedNames(adapter);
        return write(base, adapter.modules().keySet(), mapping, target, "lora-baked", (module, t, edit, tensors) -> {
            LoraModule m = adapter.modules().get(module);
            if (m.in() != t.in() || m.out() != t.out()) {
                throw new GraftException(base, t.weight(), "is " + t.in() + " → " + t.out() + " but the "
                        + "adapter's module '" + module + "' is " + m.in() + " → " + m.out());
            }
            String a = sharedA.get(module);
            if (a.equals(inputA(module))) {
                tensors.add(factor(OutputTensor.of(a, ElementType.FLOAT, new long[] {m.in(), m.rank()},
                        () -> transposedA(m))));
            }
            tensors.add(factor(OutputTensor.of(inputB(module), ElementType.FLOAT, new long[] {m.rank(), m.out()},
                    () -> scaledTransposedB(m, weight))));
            return new Factors(a, inputB(module));
        }, Map.of(), List.of());
    }

    /**
     * Writes {@code base} with baked LoRA branches on {@code branches}' modules, reading the factors named there,
     * and with every node input named in {@code tied} reading the initializer it maps to instead (the replaced
     * initializers are left out): layers that share weights. {@code tensors} (the shared weights and the factors)
     * are written after the model's own initializers, in their order.
     */
    static List<String> tied(Path base, Map<String, Factors> branches, Map<String, String> tied,
                             List<TensorJob> tensors, Path target) {
        return write(base, branches.keySet(), Map.of(), target, "lora-baked",
                (module, t, edit, added) -> branches.get(module), tied, tensors);
    }

    /** The initializers a branch reads: {@code Aᵀ} ({@code [in, r]}) and {@code s·Bᵀ} ({@code [r, out]}). */
    record Factors(String a, String b) {
    }

    /** How a module's branch gets its factors: their names, with the edits and tensors that provide them. */
    private interface Branching {
        Factors place(String module, ModuleMap.Target target, GraphEdit edit, List<TensorJob> tensors);
    }

    private static TensorJob factor(OutputTensor t) {
        return new TensorJob(t, t.byteLength() * 2);
    }

    private static List<String> write(Path base, Collection<String> modules, Map<String, String> mapping, Path target,
                                      String operation, Branching branching, Map<String, String> tied,
                                      List<TensorJob> extra) {
        try (OnnxModel model = OnnxModel.open(base)) {
            ModuleMap map = new ModuleMap(model, mapping);
            GraphEdit edit = GraphEdit.of(model);
            Map<String, String> byWeight = new LinkedHashMap<>();
            Map<String, dev.graft.index.QuantizedMatMul> quantized = dev.graft.index.QuantizedMatMul.byPart(model);
            for (String m : modules) {
                ModuleMap.Target t = map.find(m);
                if (quantized.containsKey(t.weight())) {
                    throw new GraftException(base, t.weight(), "is an int4/int8 MatMulNBits weight (module '" + m
                            + "'); run-time LoRA branches read float weights: apply the adapter instead");
                }
                if (t.packed()) {
                    throw new GraftException(base, t.weight(), "packs module '" + m + "' with others (outputs "
                            + t.offset() + " to " + (t.offset() + t.out()) + " of " + t.stored() + "); run-time LoRA "
                            + "branches on packed projections are not supported: apply the adapter instead");
                }
                byWeight.put(t.weight(), m);
            }
            List<TensorJob> factors = new ArrayList<>();
            List<String> branched = new ArrayList<>();
            Map<String, String> tables = new LinkedHashMap<>();
            if (!byWeight.isEmpty()) {
                TiedWeights.of(model, GraphIndex.of(model)).forEach(t -> tables.put(t.copy(), t.table()));
            }
            for (GraphEdit.DenseNode n : edit.denseNodesReading(byWeight.keySet())) {
                if (branched.contains(n.weight())) {
                    throw new GraftException(base, n.weight(), "is used by more than one node; a LoRA "
                            + "branch needs one");
                }
                String module = byWeight.get(n.weight());
                Factors f = branching.place(module, map.find(module), edit, factors);
                String scope = "/" + module.replace('.', '/') + "/lora";
                edit.addLowRankBranch(n, f.a(), f.b(), scope);
                String table = tables.get(n.weight());
                if (table != null) { // a tied head: its embedding takes the same update, as lora apply gives it
                    for (GraphEdit.DenseNode lookup : edit.gatherNodesReading(table)) {
                        edit.addTiedLookupBranch(lookup, f.a(), f.b(), scope + "/tied");
                    }
                }
                branched.add(n.weight());
            }
            edit.renameInputs(tied);
            if (branched.size() != byWeight.size()) {
                List<String> missing = new ArrayList<>(byWeight.keySet());
                missing.removeAll(branched);
                throw new GraftException(base, missing.get(0), "is not the weight input of a MatMul or Gemm node");
            }
            RewritePlan.Builder plan = RewritePlan.of(operation, edit.build())
                    .input(model).parameter("modules", String.join(",", byWeight.values()));
            for (Weight w : model.initializers()) {
                if (!tied.containsKey(w.name())) {
                    plan.copy(w);
                }
            }
            extra.forEach(plan::add);
            factors.forEach(plan::add);
            Rewriter.write(plan.build(), target, Execution.defaults());
            return branched;
        }
    }

    private static ValueInfoProto input(String name, long rows, long cols, String module) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : new long[] {rows, cols}) {
            shape.addDim(d >= 0 ? TensorShapeProto.Dimension.newBuilder().setDimValue(d)
                    : TensorShapeProto.Dimension.newBuilder().setDimParam("lora_rank_" + module.replace('.', '_')));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }

    /** Each module's A initializer: modules whose A values are equal share one, named after the first. */
    private static Map<String, String> sharedNames(PeftAdapter adapter) {
        Map<String, String> names = new LinkedHashMap<>();
        List<LoraModule> firsts = new ArrayList<>();
        for (LoraModule m : adapter.modules().values()) {
            LoraModule same = firsts.stream().filter(f -> f.in() == m.in() && java.util.Arrays.equals(f.a(), m.a()))
                    .findFirst().orElse(null);
            if (same == null) {
                firsts.add(m);
                names.put(m.name(), inputA(m.name()));
            } else {
                names.put(m.name(), inputA(same.name()));
            }
        }
        return names;
    }

    /** {@code Aᵀ} ({@code [in, r]}) of {@code m}. */
    static float[] transposedA(LoraModule m) {
        float[] at = new float[m.in() * m.rank()];
        for (int k = 0; k < m.rank(); k++) {
            for (int i = 0; i < m.in(); i++) {
                at[i * m.rank() + k] = m.a()[k * m.in() + i];
            }
        }
        return at;
    }

    /** {@code weight·s·Bᵀ} ({@code [r, out]}) of {@code m}. */
    static float[] scaledTransposedB(LoraModule m, double weight) {
        float[] bt = new float[m.rank() * m.out()];
        for (int o = 0; o < m.out(); o++) {
            for (int k = 0; k < m.rank(); k++) {
                bt[k * m.out() + o] = (float) (weight * m.scale() * m.b()[o * m.rank() + k]);
            }
        }
        return bt;
    }

    /** Refuses an adapter with trained biases, which LoRA branches cannot carry; call before writing anything. */
    public static void requireNoBiases(PeftAdapter adapter, Path folder) {
        if (!adapter.biases().isEmpty()) {
            throw new AdapterFormatException(folder.resolve(PeftAdapter.CONFIG), null, "has trained biases (bias: "
                    + adapter.config().bias() + "), which LoRA branches cannot carry; apply the adapter instead, or "
                    + "extract it with --no-biases");
        }
    }

    /**
     * Writes {@code adapter}'s factors, times {@code weight}, as an {@code .onnx_adapter} for {@code graph}: each
     * module's {@code Aᵀ} and {@code s·Bᵀ} under the names of its LoRA input slots there ({@link LoraSlots}: a graph
     * {@link #graph} wrote, or one from Olive). A module without a slot, or whose widths are not its slot's, is an
     * error naming the graph; nothing is written then.
     */
    public static void export(PeftAdapter adapter, double weight, Path graph, Path target) {
        requireNoBiases(adapter, target);
        LoraSlots slots;
        try (OnnxModel model = OnnxModel.open(graph)) {
            slots = LoraSlots.of(model);
        }
        List<OnnxAdapterFile.Parameter> parameters = new ArrayList<>();
        for (LoraModule m : adapter.modules().values()) {
            LoraSlots.Slot slot = slots.of(m.name()).orElseThrow(() -> new GraftException(graph, null, "has no LoRA "
                    + "input slot for the adapter's module '" + m.name() + "'; its slots: " + (slots.isEmpty()
                    ? "none (write the graph with lora export first)" : slots.byModule().keySet())));
            if (slot.in() >= 0 && slot.in() != m.in() || slot.out() >= 0 && slot.out() != m.out()) {
                throw new GraftException(graph, slot.inputA(), "is the LoRA slot of a " + slot.in() + " → "
                        + slot.out() + " layer but the adapter's module '" + m.name() + "' is " + m.in() + " → "
                        + m.out());
            }
            parameters.add(new OnnxAdapterFile.Parameter(slot.inputA(), new long[] {m.in(), m.rank()},
                    transposedA(m)));
            parameters.add(new OnnxAdapterFile.Parameter(slot.inputB(), new long[] {m.rank(), m.out()},
                    scaledTransposedB(m, weight)));
        }
        OnnxAdapterFile.write(target, 1, parameters);
    }
}
