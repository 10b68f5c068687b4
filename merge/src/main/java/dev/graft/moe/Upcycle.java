package dev.graft.moe;

import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.data.ValueShapes;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.ExpertMlps;
import dev.graft.graph.ExpertRouting;
import dev.graft.graph.GraphEdit;
import dev.graft.graph.TokenGate;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A mixture of experts upcycled from dense fine-tunes (mergekit-moe; Komatsuzaki et al., "Sparse Upcycling", ICLR
 * 2023), written as one ONNX graph: attention, norms and embeddings come from the base, each numbered transformer
 * layer's MLP becomes {@code E} experts — expert {@code e}'s MLP is fine-tune {@code e}'s — and a gate per layer
 * sends each token to its {@link #expertsPerToken} experts ({@code k}, default 2, mergekit's), weighted by the
 * softmax of their gate logits ({@link ExpertMlps}). Gates come from prompts ({@link GateSource}). Written in
 * standard ops by default ({@link Form#STANDARD}: every expert runs on every token) or as ONNX Runtime's
 * {@code com.microsoft.MoE} ({@link Form#CONTRIB}: only the chosen experts run; GELU in the tanh approximation).
 * With identical experts the mixture is the dense model (any gates); one expert with {@code k = 1} is that
 * expert's MLP on the base's attention.
 *
 * <pre>{@code
 * Upcycle.of(base, List.of(codeModel, mathModel))
 *     .gates(GateSource.hidden(List.of(codePrompts, mathPrompts), List.of()))
 *     .writeTo(Path.of("moe.onnx"));
 * }</pre>
 */
public final class Upcycle {
    /** How the mixture is written. */
    public enum Form {
        /** Standard ONNX ops (opset 11 and later): exact for any MLP, every expert computed. */
        STANDARD,
        /** ONNX Runtime's {@code com.microsoft.MoE}: the chosen experts only; ReLU, SiLU, SwiGLU or GELU MLPs. */
        CONTRIB
    }

    private final Path base;
    private final List<Path> experts;
    private GateSource gates;
    private int expertsPerToken;
    private Form form = Form.STANDARD;
    private Execution execution = Execution.defaults();

    /**
     * What was written: each upcycled layer and the mean cosine between its experts' gate vectors (how differently
     * the gates score a token; 1 means they cannot tell the experts apart).
     */
    public record Report(Path target, int experts, int expertsPerToken, String gates, Form form,
                         List<LayerReport> layers, long bytes) {
    }

    /** One upcycled layer: its name, the value its gate reads, its MLP weights, the activation and gate cosine. */
    public record LayerReport(String name, String input, List<String> weights, String activation,
                              double gateCosine) {
    }

    private Upcycle(Path base, List<Path> experts) {
        if (experts.isEmpty()) {
            throw new InvalidSettingException("an upcycled mixture needs at least one expert model besides the base");
        }
        this.base = base;
        this.experts = List.copyOf(experts);
        this.expertsPerToken = Math.min(2, experts.size());
    }

    /** The mixture of {@code experts}' MLPs on {@code base}'s attention (one graph, models of the same graph). */
    public static Upcycle of(Path base, List<Path> experts) {
        return new Upcycle(base, experts);
    }

    /** Where the gates come from (required). */
    public Upcycle gates(GateSource source) {
        this.gates = source;
        return this;
    }

    /**
     * The experts each token goes to ({@code k}; default 2, mergekit's, or 1 with one expert).
     *
     * @throws InvalidSettingException if {@code k} is below 1
     */
    public Upcycle expertsPerToken(int k) {
        if (k < 1) {
            throw new InvalidSettingException("experts per token must be 1 or more, got " + k);
        }
        this.expertsPerToken = k;
        return this;
    }

    /** How the mixture is written (default {@link Form#STANDARD}). */
    public Upcycle form(Form form) {
        this.form = form;
        return this;
    }

    /** Threads and memory budget of the write. */
    public Upcycle execution(Execution execution) {
        this.execution = execution;
        return this;
    }

    /**
     * Writes the mixture to {@code target}.
     *
     * @throws InvalidSettingException if no gates were given, or {@code k} exceeds the experts
     * @throws UnsupportedModelException naming the file and weight for an MLP that cannot be made experts
     * @throws dev.graft.IncompatibleModelsException naming the file and tensor if the models do not pair
     */
    public Report writeTo(Path target) {
        if (gates == null) {
            throw new InvalidSettingException("an upcycled mixture needs gates: hidden or cheap_embed from each "
                    + "expert's prompts, or random");
        }
        int t = experts.size();
        if (expertsPerToken > t) {
            throw new InvalidSettingException("experts per token (" + expertsPerToken + ") exceeds the " + t
                    + " experts");
        }
        List<OnnxModel> opened = new ArrayList<>();
        try {
            OnnxModel b = OnnxModel.open(base);
            opened.add(b);
            for (Path e : experts) {
                opened.add(OnnxModel.open(e));
            }
            if (form == Form.STANDARD) {
                ExpertMlps.requireGateOpset(b);
            }
            MergePlan pairs = MergePlan.of(opened);
            List<RoutedLayers.Group> groups = RoutedLayers.of(b, "mlp", w -> true,
                    ValueShapes.of(base, ProbeOptions.defaults())).stream()
                    .filter(g -> g.name().startsWith("layer.")).toList();
            if (groups.isEmpty()) {
                throw new UnsupportedModelException(base, null, "has no numbered transformer layers with dense MLPs "
                        + "to make experts of");
            }
            Map<String, TokenGate> gate = gates.gates(base, groups.stream()
                    .map(g -> new TokenGate.Input(g.input(), g.width())).toList(), t);
            GraphEdit edit = GraphEdit.of(b);
            Set<String> replaced = new HashSet<>();
            List<TensorJob> added = new ArrayList<>();
            List<LayerReport> reports = new ArrayList<>();
            for (RoutedLayers.Group g : groups) {
                List<AffineLayer> layers = g.layers().stream().map(RoutedLayers.Layer::affine).toList();
                ExpertMlps.Block block = ExpertMlps.block(b, layers);
                String scope = ExpertRouting.SCOPE + g.name();
                String gateName = scope + "/gate";
                TokenGate layerGate = gate.get(g.input());
                added.add(new TensorJob(OutputTensor.of(gateName, ElementType.FLOAT, new long[] {g.width(), t},
                        layerGate::weight), 8L * layerGate.weight().length));
                String gateBias = layerGate.bias() == null ? null : scope + "/gate_bias";
                if (gateBias != null) {
                    added.add(new TensorJob(OutputTensor.of(gateBias, ElementType.FLOAT, new long[] {t},
                            layerGate::bias), 8L * t));
                }
                for (String p : block.parameters()) {
                    RoutedMerge.requireFloat(b, p);
                    replaced.add(p);
                }
                if (form == Form.STANDARD) {
                    List<Map<String, String>> renames = new ArrayList<>();
                    for (int e = 0; e < t; e++) {
                        Map<String, String> rename = new LinkedHashMap<>();
                        for (String p : block.parameters()) {
                            String name = p + ".expert" + e;
                            rename.put(p, name);
                            added.add(TensorJob.passThrough(OutputTensor.copyOf(pairs.step(p).sources().get(e + 1))
                                    .named(name)));
                        }
                        renames.add(rename);
                    }
                    ExpertMlps.addStandard(edit, block, renames, gateName, gateBias, expertsPerToken, g.rank(),
                            g.width(), scope);
                } else {
                    if (block.activation() == null) {
                        throw new UnsupportedModelException(base, layers.get(0).weight(), "is in an MLP whose "
                                + "activation com.microsoft.MoE does not compute (ReLU, SiLU, SwiGLU, GELU); write "
                                + "it in standard ops");
                    }
                    StackedExperts stacked = new StackedExperts(pairs, block, t, scope);
                    added.addAll(stacked.jobs());
                    ExpertMlps.addContrib(edit, block, stacked.fc1(), stacked.fc1Bias(), stacked.fc2(),
                            stacked.fc2Bias(), gateName, gateBias, expertsPerToken, t, scope);
                }
                reports.add(new LayerReport(g.name(), g.input(), block.parameters(),
                        block.activation() == null ? "other" : block.activation().name().toLowerCase(Locale.ROOT),
                        meanCosine(layerGate.weight(), g.width(), t)));
            }
            RewritePlan.Builder plan = RewritePlan.of("upcycle", edit.clearValueInfo().build());
            opened.forEach(plan::input);
            plan.parameter("experts", String.valueOf(t)).parameter("experts_per_token",
                    String.valueOf(expertsPerToken)).parameter("gates", gates.describe())
                    .parameter("form", form.name().toLowerCase(Locale.ROOT))
                    .parameter("layers", String.valueOf(groups.size()));
            for (Weight w : b.initializers()) {
                if (!replaced.contains(w.name())) {
                    plan.copy(w);
                }
            }
            added.forEach(plan::add);
            long bytes = Rewriter.write(plan.build(), target, execution).files().bytes();
            return new Report(target, t, expertsPerToken, gates.describe(), form, reports, bytes);
        } finally {
            opened.forEach(OnnxModel::close);
        }
    }

    /** The mean cosine between the columns of a {@code [width, E]} gate (1 with one expert). */
    private static double meanCosine(float[] g, int width, int experts) {
        double sum = 0;
        int pairs = 0;
        for (int a = 0; a < experts; a++) {
            for (int c = a + 1; c < experts; c++) {
                double dot = 0;
                double na = 0;
                double nc = 0;
                for (int r = 0; r < width; r++) {
                    double x = g[r * experts + a];
                    double y = g[r * experts + c];
                    dot += x * y;
                    na += x * x;
                    nc += y * y;
                }
                sum += na == 0 || nc == 0 ? 0 : dot / Math.sqrt(na * nc);
                pairs++;
            }
        }
        return pairs == 0 ? 1 : sum / pairs;
    }
}
