package dev.graft.graph;

import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.graft.graph.Nodes.constantFloat;
import static dev.graft.graph.Nodes.int64s;
import static dev.graft.graph.Nodes.ints;
import static dev.graft.graph.Nodes.longs;
import static dev.graft.graph.Nodes.node;
import static dev.graft.graph.Nodes.reshape;

/**
 * Edits that make dense layers routed (weight-ensembling mixtures of experts, Tang et al., ICML 2024): routers that
 * give each sample a coefficient per expert, and dense nodes whose weight is {@code W(x) = W + Σₜ rₜ(x)·τₜ}. The node
 * keeps {@code y₀ = x·W} and adds {@code x·(Σₜ rₜ·τₜ) + Σₜ rₜ·δₜ}: the experts' updates are stored stacked
 * ({@code [T·in, out]}, read as {@code [T, in·out]}), each sample's update is mixed by one {@code MatMul} of its
 * coefficients ({@code [batch, in, out]}) and applied by a batched {@code MatMul}; the bias updates ({@code [T, out]})
 * are {@code r·δ}. Mixing the weights once per sample costs {@code T·in·out} per sample, against
 * {@code T·in·out} per token for mixing each expert's output (measured on bge-small with five experts: 2.3× the dense
 * model's latency, against 4.5×).
 * Sequences ({@code [batch, positions, width]}) are pooled per sample: the mean over the positions whose
 * {@code attention_mask} is 1 (all positions alike if the graph has no mask). Only opset-1 forms of shape ops are used
 * ({@code Reshape} with a shape input, {@code MatMul} sums), so the edits hold at any opset. A value's rank is the
 * caller's (a shape probe knows it).
 */
public final class ExpertRouting {
    /** The scope of every node the edits add. */
    public static final String SCOPE = "/graft_moe/";

    /**
     * What a routed graph holds: its routers (group name → the value holding its {@code [batch, experts]}
     * coefficients, {@code /graft_moe/GROUP/r}), its routed weights (weight → number of experts), those whose
     * experts are stored sparse (a mask and values), an upcycled mixture's token gates (layer name → number of
     * experts, from {@code /graft_moe/LAYER/gate}, {@link ExpertMlps}), and a mixture of LoRA experts' layers
     * (module → number of experts, from {@code MODULE.lora_experts_owner}).
     */
    public record Routed(Map<String, String> routers, Map<String, Long> experts, java.util.Set<String> sparse,
                         Map<String, Long> gates, Map<String, Long> loraExperts) {
        /** Whether the graph has routed layers. */
        public boolean isEmpty() {
            return routers.isEmpty() && experts.isEmpty() && gates.isEmpty() && loraExperts.isEmpty();
        }
    }

    private final GraphEdit edit;
    private final String mask;
    private boolean maskCast;

    private ExpertRouting(GraphEdit edit, String mask) {
        this.edit = edit;
        this.mask = mask;
    }

    /** The stacked task vectors of routed weight {@code weight}. */
    public static String deltas(String weight) {
        return weight + ".moe_deltas";
    }

    /** The stacked bias updates of routed bias {@code bias}. */
    public static String biasDeltas(String bias) {
        return bias + ".moe_bias_deltas";
    }

    /** The routers and routed weights of {@code model} (empty for a graph without them). */
    public static Routed find(OnnxModel model) {
        Map<String, String> routers = new LinkedHashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            for (String o : n.getOutputList()) {
                if (o.startsWith(SCOPE) && o.endsWith("/r")) {
                    routers.put(o.substring(SCOPE.length(), o.length() - 2), o);
                }
            }
        }
        Map<String, Long> experts = new LinkedHashMap<>();
        java.util.Set<String> sparse = new java.util.LinkedHashSet<>();
        Map<String, Long> gates = new LinkedHashMap<>();
        Map<String, Long> loraExperts = new LinkedHashMap<>();
        for (Weight w : model.initializers()) {
            if (w.name().endsWith(".lora_experts_owner") && w.shape().length == 2) {
                loraExperts.put(w.name().substring(0, w.name().length() - ".lora_experts_owner".length()),
                        w.shape()[0]);
            }
            if (w.name().startsWith(SCOPE) && w.name().endsWith("/gate") && w.shape().length == 2) {
                gates.put(w.name().substring(SCOPE.length(), w.name().length() - "/gate".length()), w.shape()[1]);
            }
            for (String suffix : List.of(".moe_deltas", ".moe_deltas_mask")) {
                if (w.name().endsWith(suffix)) {
                    String weight = w.name().substring(0, w.name().length() - suffix.length());
                    model.weight(weight).ifPresent(base -> experts.put(weight, w.elementCount()
                            / Math.max(1, base.elementCount())));
                    if (suffix.endsWith("_mask")) {
                        sparse.add(weight);
                    }
                }
            }
        }
        return new Routed(routers, experts, sparse, gates, loraExperts);
    }

    /** Routing edits on {@code edit}; sequences are pooled by graph input {@code mask} when the graph has it. */
    public static ExpertRouting of(GraphEdit edit, String mask) {
        return new ExpertRouting(edit, edit.hasInput(mask) ? mask : null);
    }

    /**
     * Adds a router that pools its input first: {@code r = scale·softmax(p·W + b)}, {@code p} the pooled
     * {@code input} (L2-normalized if {@code normalized}), {@code W} ({@code [width, T]}) and {@code b} ({@code [T]})
     * initializers; with a {@code confidence} in (0, 1], a sample whose largest posterior reaches it gets that task
     * alone (one-hot) instead. Returns the value holding {@code r} ({@code [batch, T]}).
     *
     * @throws IllegalArgumentException if {@code rank} is not 2 or 3 (callers refuse such models first, naming the
     *                                  weight: {@code RoutedLayers})
     */
    public String addPosteriorRouter(String scope, String input, int rank, boolean normalized, String weight,
                                     String bias, float confidence, float scale) {
        List<NodeProto> nodes = new ArrayList<>();
        String p = pooled(nodes, scope, input, rank);
        if (normalized) {
            nodes.add(node("LpNormalization", List.of(p), scope + "/normalized", ints("axis", -1), ints("p", 2)));
            p = scope + "/normalized";
        }
        nodes.add(node("MatMul", List.of(p, weight), scope + "/logits_w"));
        nodes.add(node("Add", List.of(scope + "/logits_w", bias), scope + "/logits"));
        nodes.add(node("Softmax", List.of(scope + "/logits"), scope + "/posterior", ints("axis", -1)));
        String posterior = scope + "/posterior";
        if (confidence > 0) {
            nodes.add(int64s(scope + "/one", new long[] {1}));
            nodes.add(NodeProto.newBuilder().setOpType("TopK").setName(scope + "/top").addInput(posterior)
                    .addInput(scope + "/one").addOutput(scope + "/top").addOutput(scope + "/top_index")
                    .addAttribute(ints("axis", -1)).build());
            nodes.add(node("Equal", List.of(posterior, scope + "/top"), scope + "/is_top"));
            nodes.add(node("Cast", List.of(scope + "/is_top"), scope + "/one_hot",
                    ints("to", TensorProto.DataType.FLOAT_VALUE)));
            nodes.add(constantFloat(scope + "/confidence", confidence));
            nodes.add(node("Less", List.of(scope + "/top", scope + "/confidence"), scope + "/uncertain"));
            nodes.add(node("Where", List.of(scope + "/uncertain", posterior, scope + "/one_hot"),
                    scope + "/routed"));
            posterior = scope + "/routed";
        }
        nodes.add(constantFloat(scope + "/scale", scale));
        nodes.add(node("Mul", List.of(posterior, scope + "/scale"), scope + "/r"));
        edit.insertAfter(input, nodes);
        return scope + "/r";
    }

    /**
     * Adds nodes, before all others, that make the dense tensor of {@code shape} whose non-zero entries are
     * {@code values} (float32 initializer, in row-major order) at the places where {@code mask} (uint8 initializer,
     * one entry per element) is not 0: a sparse tensor stored as a mask and its values. Each place takes the value
     * whose rank among the kept places it has ({@code Gather} at the mask's running sum minus one, {@code Where} the
     * mask is set); every input is constant, so ONNX Runtime folds these nodes into the dense tensor when it loads
     * the model (a {@code ScatterND} into {@code ConstantOfShape} zeros was not folded: measured 3.7× slower runs).
     * Returns the dense value's name.
     */
    public String addDensified(String mask, String values, long[] shape, String scope) {
        List<NodeProto> nodes = new ArrayList<>();
        nodes.add(node("Cast", List.of(mask), scope + "/mask", ints("to", TensorProto.DataType.BOOL_VALUE)));
        nodes.add(node("Cast", List.of(mask), scope + "/counts", ints("to", TensorProto.DataType.INT64_VALUE)));
        nodes.add(int64s(scope + "/axis", new long[] {0}));
        nodes.add(node("CumSum", List.of(scope + "/counts", scope + "/axis"), scope + "/rank"));
        nodes.add(int64s(scope + "/one", new long[] {1}));
        nodes.add(node("Sub", List.of(scope + "/rank", scope + "/one"), scope + "/position"));
        nodes.add(node("Gather", List.of(values, scope + "/position"), scope + "/gathered"));
        nodes.add(constantFloat(scope + "/zero", 0));
        nodes.add(node("Where", List.of(scope + "/mask", scope + "/gathered", scope + "/zero"), scope + "/flat"));
        nodes.add(int64s(scope + "/shape", shape));
        nodes.add(node("Reshape", List.of(scope + "/flat", scope + "/shape"), scope + "/dense"));
        edit.prepend(nodes);
        return scope + "/dense";
    }

    /**
     * Adds WEMoE's router, {@code r = fc2(ReLU(fc1(h)))} at each position, pooled over positions (no softmax);
     * without {@code fc1} ({@code null}) the router is linear, {@code r = fc2(h)}. Weights are stored
     * {@code [in, out]}. Returns the value holding {@code r} ({@code [batch, T]}).
     */
    public String addMlpRouter(String scope, String input, int rank, String fc1, String fc1Bias, String fc2,
                               String fc2Bias) {
        List<NodeProto> nodes = new ArrayList<>();
        String h = input;
        if (fc1 != null) {
            nodes.add(node("MatMul", List.of(h, fc1), scope + "/fc1_w"));
            nodes.add(node("Add", List.of(scope + "/fc1_w", fc1Bias), scope + "/fc1"));
            nodes.add(node("Relu", List.of(scope + "/fc1"), scope + "/hidden"));
            h = scope + "/hidden";
        }
        nodes.add(node("MatMul", List.of(h, fc2), scope + "/fc2_w"));
        nodes.add(node("Add", List.of(scope + "/fc2_w", fc2Bias), scope + "/fc2"));
        String r = pooled(nodes, scope, scope + "/fc2", rank);
        nodes.add(node("Identity", List.of(r), scope + "/r"));
        edit.insertAfter(input, nodes);
        return scope + "/r";
    }

    /**
     * Makes dense node {@code d} (its input of rank {@code rank}, width {@code in}; output width {@code out}) add
     * {@code Σₜ rₜ·(x·τₜ + δₜ)}: {@code router} the {@code [batch, T]} coefficients, {@code deltas} the initializer
     * of the stacked updates ({@code [T·in, out]}), {@code biasDeltas} the stacked bias updates ({@code [T, out]}) or
     * null. Nodes are named under {@code scope}; the node now writes {@code y.moe_base}.
     */
    public void addRoutedBranch(GraphEdit.DenseNode d, int rank, String router, int experts, long in, long out,
                                String deltas, String biasDeltas, String scope) {
        String y = d.output();
        edit.renameOutput(y, y + ".moe_base");
        List<NodeProto> nodes = new ArrayList<>();
        nodes.add(int64s(scope + "/flat_shape", new long[] {experts, in * out}));
        nodes.add(node("Reshape", List.of(deltas, scope + "/flat_shape"), scope + "/deltas_flat"));
        nodes.add(node("MatMul", List.of(router, scope + "/deltas_flat"), scope + "/mixed_flat"));
        nodes.add(int64s(scope + "/mixed_shape", new long[] {0, in, out}));
        nodes.add(node("Reshape", List.of(scope + "/mixed_flat", scope + "/mixed_shape"), scope + "/mixed"));
        nodes.add(int64s(scope + "/x_shape", new long[] {0, -1, in}));
        nodes.add(node("Reshape", List.of(d.input(), scope + "/x_shape"), scope + "/x_3d"));
        nodes.add(node("MatMul", List.of(scope + "/x_3d", scope + "/mixed"), scope + "/delta_3d"));
        nodes.add(int64s(scope + "/delta_shape", reshape(rank - 1, 0, out)));
        nodes.add(node("Reshape", List.of(scope + "/delta_3d", scope + "/delta_shape"), scope + "/delta"));
        List<String> sum = new ArrayList<>(List.of(y + ".moe_base", scope + "/delta"));
        if (biasDeltas != null) {
            nodes.add(node("MatMul", List.of(router, biasDeltas), scope + "/bias_delta_rows"));
            nodes.add(int64s(scope + "/bias_shape", reshape(1, rank - 2, out)));
            nodes.add(node("Reshape", List.of(scope + "/bias_delta_rows", scope + "/bias_shape"),
                    scope + "/bias_delta"));
            sum.add(scope + "/bias_delta");
        }
        nodes.add(node("Sum", sum, y));
        edit.insertAfter(y + ".moe_base", nodes);
    }

    /** {@code value} pooled to {@code [batch, width]}: itself at rank 2, the (masked) mean over positions at rank 3. */
    private String pooled(List<NodeProto> nodes, String scope, String value, int rank) {
        if (rank == 2) {
            return value;
        }
        if (rank != 3) {
            throw new IllegalArgumentException("a router reads [batch, width] or [batch, positions, width], not rank "
                    + rank);
        }
        if (mask == null) {
            nodes.add(node("Transpose", List.of(value), scope + "/by_width", longs("perm", 0, 2, 1)));
            nodes.add(node("GlobalAveragePool", List.of(scope + "/by_width"), scope + "/pooled_3d"));
        } else {
            nodes.add(node("MatMul", List.of(positionWeights(), value), scope + "/pooled_3d"));
        }
        nodes.add(int64s(scope + "/pooled_shape", new long[] {0, -1}));
        nodes.add(node("Reshape", List.of(scope + "/pooled_3d", scope + "/pooled_shape"), scope + "/pooled"));
        return scope + "/pooled";
    }

    /** The {@code [batch, 1, positions]} weights of a masked mean ({@code m / Σm}), added once before all nodes. */
    private String positionWeights() {
        String scope = SCOPE + "mask";
        if (!maskCast) {
            List<NodeProto> nodes = new ArrayList<>();
            nodes.add(node("Cast", List.of(mask), scope + "/float", ints("to", TensorProto.DataType.FLOAT_VALUE)));
            nodes.add(int64s(scope + "/row_shape", new long[] {0, 1, -1}));
            nodes.add(node("Reshape", List.of(scope + "/float", scope + "/row_shape"), scope + "/row"));
            nodes.add(int64s(scope + "/column_shape", new long[] {0, -1, 1}));
            nodes.add(node("Reshape", List.of(scope + "/float", scope + "/column_shape"), scope + "/column"));
            nodes.add(node("MatMul", List.of(scope + "/row", scope + "/column"), scope + "/count"));
            nodes.add(constantFloat(scope + "/one", 1));
            nodes.add(node("Max", List.of(scope + "/count", scope + "/one"), scope + "/count_at_least_one"));
            nodes.add(node("Div", List.of(scope + "/row", scope + "/count_at_least_one"), scope + "/weights"));
            edit.prepend(nodes);
            maskCast = true;
        }
        return scope + "/weights";
    }
}
