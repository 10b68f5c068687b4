package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.graph.ExpertMlps;
import dev.graft.graph.GraphEdit;
import dev.graft.graph.TokenGate;
import dev.graft.index.GraphIndex;
import dev.graft.index.TiedWeights;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.tensor.ElementType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A mixture of LoRA experts (after LLaVA-MoLE, Chen et al., 2024, and MoLE, Wu et al., ICLR 2024) written as one
 * ONNX graph: several PEFT adapters of one base are experts on every layer they adapt, and a gate per token picks
 * among them. For a dense layer {@code y = x·W} the graph computes {@code y = x·W + Σₑ gₑ(x)·sₑ·(x·Aₑᵀ)·Bₑᵀ}, where
 * {@code g(x)} keeps the {@link #expertsPerToken} largest gate logits of the token, softmaxed ({@link TokenGate};
 * default k = 1, LLaVA-MoLE's) and 0 for the other experts; an adapter without that layer adds nothing there. The
 * experts' factors are stacked ({@code [in, Σ rₑ]} and {@code [Σ rₑ, out]}, scales folded into B) and weighted
 * column by column ({@link GraphEdit#addGatedLowRankBranch}). The adapted layers of one transformer layer share a
 * gate, which reads the input of the first of them (so a token takes the same experts in the attention and the MLP
 * of a layer, and there is one gate to fit per layer); an adapted layer outside numbered layers has its own. The
 * gates are given ({@link #gates}); {@link #gateInputs} says which values they read (make them with
 * {@code dev.graft.moe.GateSource} of graft-merge, or {@code graft moe --method lora}). With every adapter the same,
 * or one adapter, the mixture is {@code lora apply}'s model.
 */
public final class LoraExperts {
    private final Path base;
    private final List<Path> folders;
    private final List<PeftAdapter> adapters;
    private Map<String, String> mapping = Map.of();
    private Map<String, TokenGate> gates;
    private int expertsPerToken = 1;

    /** What was written: each adapted layer and its experts' ranks (0 where an adapter does not adapt it). */
    public record Report(Path target, int experts, int expertsPerToken, List<Layer> layers, int gates, long bytes) {
    }

    /** One adapted layer: the module, its weight, the value its (transformer layer's) gate reads, each rank. */
    public record Layer(String module, String weight, String gateInput, List<Integer> ranks) {
    }

    private LoraExperts(Path base, List<Path> folders, List<PeftAdapter> adapters) {
        this.base = base;
        this.folders = folders;
        this.adapters = adapters;
    }

    /**
     * The mixture of the PEFT adapters in {@code folders} (at least one) on {@code base}.
     *
     * @throws InvalidSettingException if there are no adapters
     * @throws AdapterFormatException naming the file if an adapter cannot be read
     */
    public static LoraExperts of(Path base, List<Path> folders) {
        if (folders.isEmpty()) {
            throw new InvalidSettingException("a mixture of LoRA experts needs at least one adapter");
        }
        List<PeftAdapter> read = new ArrayList<>();
        for (Path f : folders) {
            PeftAdapter a = PeftAdapter.read(f);
            LoraRuntime.requireNoBiases(a, f);
            read.add(a);
        }
        return new LoraExperts(base, List.copyOf(folders), read);
    }

    /** Module names to graph weights where the graph's names do not say (as {@code lora apply --map}). */
    public LoraExperts mapping(Map<String, String> mapping) {
        this.mapping = Map.copyOf(mapping);
        return this;
    }

    /** The gates, by the value each reads ({@link #gateInputs}); required. */
    public LoraExperts gates(Map<String, TokenGate> gates) {
        this.gates = Map.copyOf(gates);
        return this;
    }

    /**
     * The experts each token takes ({@code k}, default 1).
     *
     * @throws InvalidSettingException if {@code k} is below 1
     */
    public LoraExperts expertsPerToken(int k) {
        if (k < 1) {
            throw new InvalidSettingException("experts per token must be 1 or more, got " + k);
        }
        this.expertsPerToken = k;
        return this;
    }

    /**
     * The values the gates read, in graph order: the inputs of the layers some adapter adapts, with their widths.
     *
     * @throws GraftException naming the base and weight if an adapted module is not a dense layer of it
     */
    public List<TokenGate.Input> gateInputs() {
        try (OnnxModel model = OnnxModel.open(base)) {
            Map<String, TokenGate.Input> out = new LinkedHashMap<>();
            for (Placed p : placed(model, GraphEdit.of(model))) {
                out.putIfAbsent(p.gateInput(), new TokenGate.Input(p.gateInput(), p.gateWidth()));
            }
            return List.copyOf(out.values());
        }
    }

    /**
     * Writes the mixture to {@code target}.
     *
     * @throws InvalidSettingException if the gates are missing, or one for a value is not {@code [width, E]}
     * @throws GraftException naming the file and weight for a module the base cannot take
     */
    public Report writeTo(Path target) {
        int experts = adapters.size();
        if (gates == null) {
            throw new InvalidSettingException("a mixture of LoRA experts needs gates: one per value its adapted "
                    + "layers read (gateInputs())");
        }
        if (expertsPerToken > experts) {
            throw new InvalidSettingException("experts per token (" + expertsPerToken + ") exceeds the " + experts
                    + " adapters");
        }
        try (OnnxModel model = OnnxModel.open(base)) {
            ExpertMlps.requireGateOpset(model);
            GraphEdit edit = GraphEdit.of(model);
            List<TensorJob> added = new ArrayList<>();
            Map<String, String> gateOf = new LinkedHashMap<>();
            List<Layer> layers = new ArrayList<>();
            for (Placed p : placed(model, edit)) {
                String input = p.gateInput();
                if (!gateOf.containsKey(input)) {
                    gateOf.put(input, addGate(edit, input, p.gateWidth(), experts, gateOf.size(), added));
                }
                List<LoraModule> modules = adapters.stream().map(a -> a.modules().get(p.module())).toList();
                for (int e = 0; e < experts; e++) {
                    LoraModule m = modules.get(e);
                    if (m != null && (m.in() != p.target().in() || m.out() != p.target().out())) {
                        throw new GraftException(folders.get(e), p.module(), "is " + m.in() + " → " + m.out()
                                + " but the base's weight '" + p.target().weight() + "' is " + p.target().in() + " → "
                                + p.target().out());
                    }
                }
                String scope = "/" + p.module().replace('.', '/') + "/lora_experts";
                String a = p.module() + ".lora_experts_A";
                String b = p.module() + ".lora_experts_B";
                String owners = p.module() + ".lora_experts_owner";
                int in = (int) p.target().in();
                int out = (int) p.target().out();
                int rank = modules.stream().mapToInt(m -> m == null ? 0 : m.rank()).sum();
                added.add(job(a, new long[] {in, rank}, () -> stackedA(modules, in, rank)));
                added.add(job(b, new long[] {rank, out}, () -> stackedB(modules, out, rank)));
                added.add(job(owners, new long[] {experts, rank}, () -> owners(modules, rank)));
                edit.addGatedLowRankBranch(p.node(), a, b, gateOf.get(input), owners, scope);
                layers.add(new Layer(p.module(), p.target().weight(), input,
                        modules.stream().map(m -> m == null ? 0 : m.rank()).toList()));
            }
            RewritePlan.Builder plan = RewritePlan.of("lora-experts", edit.build()).input(model)
                    .parameter("adapters", String.join(",", folders.stream().map(Path::toString).toList()))
                    .parameter("experts_per_token", String.valueOf(expertsPerToken));
            for (Weight w : model.initializers()) {
                plan.copy(w);
            }
            added.forEach(plan::add);
            long bytes = Rewriter.write(plan.build(), target, Execution.defaults()).files().bytes();
            return new Report(target, experts, expertsPerToken, layers, gateOf.size(), bytes);
        }
    }

    /**
     * A module the adapters adapt, placed: its dense node in the graph, its target weight, and the value its gate
     * reads (the input of its transformer layer's first adapted layer) with that value's width.
     */
    private record Placed(String module, ModuleMap.Target target, GraphEdit.DenseNode node, String gateInput,
                          int gateWidth) {
    }

    /** Every module some adapter adapts, with its node, in graph order. */
    private List<Placed> placed(OnnxModel model, GraphEdit edit) {
        ModuleMap map = new ModuleMap(model, mapping);
        Set<String> modules = new LinkedHashSet<>();
        adapters.forEach(a -> modules.addAll(a.modules().keySet()));
        Map<String, String> byWeight = new LinkedHashMap<>();
        Set<String> tiedCopies = new LinkedHashSet<>();
        TiedWeights.of(model, GraphIndex.of(model)).forEach(t -> tiedCopies.add(t.copy()));
        Map<String, ModuleMap.Target> targets = new LinkedHashMap<>();
        for (String m : modules) {
            ModuleMap.Target t = map.find(m);
            if (t.packed()) {
                throw new UnsupportedModelException(base, t.weight(), "packs module '" + m + "' with others; LoRA "
                        + "experts on packed projections are not supported");
            }
            if (tiedCopies.contains(t.weight())) {
                throw new UnsupportedModelException(base, t.weight(), "is a head tied to the token embedding "
                        + "(module '" + m + "'); LoRA experts on a tied head are not supported");
            }
            byWeight.put(t.weight(), m);
            targets.put(m, t);
        }
        GraphIndex index = GraphIndex.of(model);
        Map<String, Placed> firstOfLayer = new LinkedHashMap<>();
        List<Placed> out = new ArrayList<>();
        for (GraphEdit.DenseNode n : edit.denseNodesReading(byWeight.keySet())) {
            String m = byWeight.remove(n.weight());
            if (m == null) {
                throw new UnsupportedModelException(base, n.weight(), "is used by more than one node; a LoRA expert "
                        + "branch needs one");
            }
            var layer = index.get(n.weight()).map(w -> w.layer()).orElse(java.util.OptionalInt.empty());
            String group = layer.isPresent() ? "layer." + layer.getAsInt() : m;
            Placed first = firstOfLayer.get(group);
            Placed p = first == null ? new Placed(m, targets.get(m), n, n.input(), (int) targets.get(m).in())
                    : new Placed(m, targets.get(m), n, first.gateInput(), first.gateWidth());
            firstOfLayer.putIfAbsent(group, p);
            out.add(p);
        }
        if (!byWeight.isEmpty()) {
            throw new GraftException(base, byWeight.keySet().iterator().next(), "is not the weight input of a MatMul "
                    + "or Gemm node");
        }
        return out;
    }

    /** Adds the gate of value {@code input} (the {@code index}-th); returns the value of its weights. */
    private String addGate(GraphEdit edit, String input, int width, int experts, int index, List<TensorJob> added) {
        TokenGate gate = gates.get(input);
        if (gate == null || gate.weight().length != width * experts
                || gate.bias() != null && gate.bias().length != experts) {
            throw new InvalidSettingException(gate == null ? "no gate given for '" + input + "' (see gateInputs())"
                    : "the gate for '" + input + "' must be [" + width + ", " + experts + "] with a bias of "
                    + experts + " or none");
        }
        String scope = "/graft_lora_experts/gate" + index;
        added.add(job(scope + "/weight", new long[] {width, experts}, gate::weight));
        String bias = null;
        if (gate.bias() != null) {
            bias = scope + "/bias";
            added.add(job(bias, new long[] {experts}, gate::bias));
        }
        return ExpertMlps.addTokenGate(edit, input, scope + "/weight", bias, expertsPerToken, scope);
    }

    /** The experts' {@code Aᵀ} side by side: {@code [in, R]}. */
    private static float[] stackedA(List<LoraModule> modules, int in, int rank) {
        float[] out = new float[in * rank];
        int column = 0;
        for (LoraModule m : modules) {
            if (m == null) {
                continue;
            }
            float[] at = LoraRuntime.transposedA(m);
            for (int i = 0; i < in; i++) {
                System.arraycopy(at, i * m.rank(), out, i * rank + column, m.rank());
            }
            column += m.rank();
        }
        return out;
    }

    /** The experts' {@code s·Bᵀ} stacked: {@code [R, out]}. */
    private static float[] stackedB(List<LoraModule> modules, int out, int rank) {
        float[] stacked = new float[rank * out];
        int row = 0;
        for (LoraModule m : modules) {
            if (m == null) {
                continue;
            }
            System.arraycopy(LoraRuntime.scaledTransposedB(m, 1), 0, stacked, row * out, m.rank() * out);
            row += m.rank();
        }
        return stacked;
    }

    /** {@code [E, R]}: 1 where column {@code c} of the stacked factors is expert {@code e}'s. */
    private static float[] owners(List<LoraModule> modules, int rank) {
        float[] p = new float[modules.size() * rank];
        int column = 0;
        for (int e = 0; e < modules.size(); e++) {
            LoraModule m = modules.get(e);
            for (int k = 0; m != null && k < m.rank(); k++) {
                p[e * rank + column++] = 1;
            }
        }
        return p;
    }

    private static TensorJob job(String name, long[] dims, OutputTensor.Values values) {
        long elements = 1;
        for (long d : dims) {
            elements *= d;
        }
        return new TensorJob(OutputTensor.of(name, ElementType.FLOAT, dims, values), 8L * elements);
    }
}
