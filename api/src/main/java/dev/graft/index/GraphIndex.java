package dev.graft.index;

import dev.graft.onnx.Attributes;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Graphs;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * For every weight of a model: which nodes consume it, in which role, and which module and layer it belongs
 * to. Roles come from the consuming op and slot (MatMul, Gemm with transA/transB, Conv, ConvTranspose,
 * normalizations, Gather, and ONNX Runtime's contrib ops: RMSNorm, rotary caches, {@code MatMulNBits}) and from
 * three patterns: a bias {@code Add} right after MatMul/Gemm/Conv, the decomposed LayerNorm of older exports
 * ({@code Div} by {@code Sqrt(...)}, then {@code Mul} by the scale and {@code Add} of the shift), and the decomposed
 * RMSNorm of decoder exports ({@code Mul} of the scale by {@code x·rsqrt(mean(x²)+ε)}). The defaults of LoRA input
 * slots ({@link LoraSlots}) are {@link WeightRole#LORA_SLOT}, in the module they adapt. Anything else is
 * {@link WeightRole#UNKNOWN}.
 */
public final class GraphIndex {
    private static final Set<String> PASS_THROUGH = Set.of("Identity", "Cast");
    private static final Set<String> LINEAR_OPS = Set.of("MatMul", "Gemm", "Conv", "ConvTranspose");
    private static final String PEFT_BASE_LAYER = ".base_layer";

    private final List<IndexedWeight> weights;
    private final Map<String, IndexedWeight> mainByName;
    private final List<IndexedWeight> inGraphOrder;

    private GraphIndex(List<IndexedWeight> weights, Map<String, Integer> firstUse) {
        this.weights = Collections.unmodifiableList(weights);
        List<IndexedWeight> ordered = new ArrayList<>(weights.stream().filter(w -> w.weight().scope().isEmpty())
                .toList());
        ordered.sort(java.util.Comparator.comparingInt(w -> firstUse.getOrDefault(w.name(), Integer.MAX_VALUE)));
        this.inGraphOrder = Collections.unmodifiableList(ordered);
        Map<String, IndexedWeight> byName = new LinkedHashMap<>();
        for (IndexedWeight w : weights) {
            if (w.weight().scope().isEmpty()) {
                byName.put(w.name(), w);
            }
        }
        this.mainByName = Collections.unmodifiableMap(byName);
    }

    /** Indexes every weight of {@code model}. */
    public static GraphIndex of(OnnxModel model) {
        Map<String, Scope> scopes = new LinkedHashMap<>();
        Graphs.forEach(model.proto().getGraph(), (name, graph) -> scopes.put(name, new Scope(graph)));
        LoraSlots slots = LoraSlots.of(model);
        List<IndexedWeight> out = new ArrayList<>();
        Map<String, Integer> firstUse = new HashMap<>();
        Scope main = scopes.get("");
        for (Weight w : model.weights()) {
            if (w.scope().isEmpty()) {
                main.firstUse(w.name()).ifPresent(at -> firstUse.put(w.name(), at));
            }
            IndexedWeight indexed = scopes.get(w.scope()).index(w, below(scopes, w.scope()));
            Optional<LoraSlots.Slot> slot = w.scope().isEmpty() ? slots.holding(w.name()) : Optional.empty();
            if (slot.isPresent()) { // an adapter's factor to be fed, not a weight of the model
                String module = slot.get().module();
                indexed = new IndexedWeight(w, WeightRole.LORA_SLOT, indexed.uses(), module,
                        LayerNumbers.layerOf(module));
            }
            out.add(indexed);
        }
        return new GraphIndex(out, firstUse);
    }

    /** The scopes nested in {@code scope}, outermost first. */
    private static List<Scope> below(Map<String, Scope> scopes, String scope) {
        List<Scope> out = new ArrayList<>();
        scopes.forEach((name, s) -> {
            if (!name.equals(scope) && (scope.isEmpty() || name.startsWith(scope + "/"))) {
                out.add(s);
            }
        });
        return out;
    }

    /** All weights, in the model's order. */
    public List<IndexedWeight> weights() {
        return weights;
    }

    /**
     * The main graph's weights in the order the graph first reads them (the position of the first node that uses
     * each, nodes being in topological order), those it does not read last: exporters order initializers their own
     * way (TorchScript puts named parameters before its anonymous {@code onnx::MatMul_N} weights).
     */
    public List<IndexedWeight> weightsInGraphOrder() {
        return inGraphOrder;
    }

    /** A main-graph weight by name. */
    public Optional<IndexedWeight> get(String name) {
        return Optional.ofNullable(mainByName.get(name));
    }

    /** The consumers and producers of values in one graph, and the names it declares (inputs, initializers). */
    private static final class Scope {
        private final Map<String, List<Slot>> consumers = new HashMap<>();
        private final Map<String, NodeProto> producers = new HashMap<>();
        private final java.util.Set<String> declared = new java.util.HashSet<>();
        private final Map<NodeProto, Integer> position = new java.util.IdentityHashMap<>();

        Scope(GraphProto graph) {
            graph.getInputList().forEach(v -> declared.add(v.getName()));
            graph.getInitializerList().forEach(t -> declared.add(t.getName()));
            for (NodeProto node : graph.getNodeList()) {
                position.put(node, position.size());
                for (int i = 0; i < node.getInputCount(); i++) {
                    String in = node.getInput(i);
                    if (!in.isEmpty()) {
                        consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(new Slot(node, i));
                    }
                }
                for (String o : node.getOutputList()) {
                    producers.put(o, node);
                }
            }
        }

        /** The position of the first node of this graph that reads {@code name}, if one does. */
        Optional<Integer> firstUse(String name) {
            return consumers.getOrDefault(name, List.of()).stream().map(s -> position.get(s.node()))
                    .min(Integer::compare);
        }

        /**
         * {@code w} with its uses here and in {@code nested} graphs that read it from this one (the branches of a
         * legacy merged decoder's {@code If} read the outer graph's initializers), each use's role judged in the
         * graph of the use.
         */
        IndexedWeight index(Weight w, List<Scope> nested) {
            List<WeightUse> uses = new ArrayList<>();
            List<Slot> slots = new ArrayList<>();
            for (Scope scope : prepend(this, nested)) {
                if (scope != this && scope.shadows(w.name())) {
                    continue;
                }
                List<Slot> found = new ArrayList<>();
                scope.followUses(w.name(), found, 0);
                for (Slot s : found) {
                    uses.add(new WeightUse(Graphs.label(s.node), s.node.getOpType(), s.input, scope.role(s, w),
                            s.node.getInputList()));
                }
                slots.addAll(found);
            }
            WeightRole role = uses.isEmpty() ? WeightRole.UNKNOWN : uses.get(0).role();
            for (WeightUse u : uses) {
                if (u.role() != role) {
                    role = WeightRole.UNKNOWN;
                }
            }
            // a rotary cache is read by every layer's attention: it belongs to none of them
            String path = role == WeightRole.ROTARY_CACHE ? "" : modulePath(w, slots);
            return new IndexedWeight(w, role, Collections.unmodifiableList(uses), path, LayerNumbers.layerOf(path));
        }

        /** Whether this graph declares or computes {@code name} itself, hiding an outer value of that name. */
        private boolean shadows(String name) {
            return declared.contains(name) || producers.containsKey(name);
        }

        private static List<Scope> prepend(Scope first, List<Scope> rest) {
            List<Scope> all = new ArrayList<>(List.of(first));
            all.addAll(rest);
            return all;
        }

        private void followUses(String value, List<Slot> out, int depth) {
            for (Slot s : consumers.getOrDefault(value, List.of())) {
                if (PASS_THROUGH.contains(s.node.getOpType()) && s.node.getDomain().isEmpty() && depth < 8
                        && s.node.getOutputCount() == 1) {
                    followUses(s.node.getOutput(0), out, depth + 1);
                } else {
                    out.add(s);
                }
            }
        }

        private WeightRole role(Slot s, Weight w) {
            NodeProto n = s.node;
            if (n.getDomain().equals("com.microsoft")) {
                return contribRole(s);
            }
            if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
                return WeightRole.UNKNOWN;
            }
            switch (n.getOpType()) {
                case "MatMul":
                    return s.input == 1 ? WeightRole.MATMUL_WEIGHT : WeightRole.UNKNOWN;
                case "Gemm":
                    if (s.input == 0) {
                        return WeightRole.GEMM_A;
                    }
                    if (s.input == 1) {
                        return Attributes.getInt(n, "transB", 0) == 1 ? WeightRole.GEMM_WEIGHT_OUT_IN : WeightRole.GEMM_WEIGHT_IN_OUT;
                    }
                    return WeightRole.BIAS;
                case "Conv":
                    return s.input == 1 ? WeightRole.CONV_WEIGHT : s.input == 2 ? WeightRole.BIAS : WeightRole.UNKNOWN;
                case "ConvTranspose":
                    return s.input == 1 ? WeightRole.CONV_TRANSPOSE_WEIGHT
                            : s.input == 2 ? WeightRole.BIAS : WeightRole.UNKNOWN;
                case "LayerNormalization":
                case "SimplifiedLayerNormalization": // ONNX Runtime's RMSNorm, registered in the default domain
                case "GroupNormalization":
                case "InstanceNormalization":
                case "RMSNormalization":
                    return s.input == 1 ? WeightRole.NORM_SCALE : s.input == 2 ? WeightRole.NORM_BIAS : WeightRole.UNKNOWN;
                case "BatchNormalization":
                    switch (s.input) {
                        case 1: return WeightRole.NORM_SCALE;
                        case 2: return WeightRole.NORM_BIAS;
                        case 3: return WeightRole.NORM_MEAN;
                        case 4: return WeightRole.NORM_VARIANCE;
                        default: return WeightRole.UNKNOWN;
                    }
                case "Gather":
                    return s.input == 0 && w.type().isFloatingPoint() && w.shape().length == 2
                            ? WeightRole.EMBEDDING : WeightRole.UNKNOWN;
                case "Add": {
                    NodeProto other = producers.get(n.getInput(1 - s.input));
                    if (other == null) {
                        return WeightRole.UNKNOWN;
                    }
                    if (LINEAR_OPS.contains(other.getOpType()) && w.shape().length == 1) {
                        return WeightRole.BIAS;
                    }
                    return isNormScaleMul(other) ? WeightRole.NORM_BIAS : WeightRole.UNKNOWN;
                }
                case "Mul": {
                    NodeProto other = producer(n.getInput(1 - s.input));
                    return other != null && (isNormalizedDiv(other) || isRmsNormalized(other)) ? WeightRole.NORM_SCALE
                            : WeightRole.UNKNOWN;
                }
                default:
                    return WeightRole.UNKNOWN;
            }
        }

        /** ONNX Runtime's contrib ops that GenAI and quantizers write ({@code com.microsoft}). */
        private static WeightRole contribRole(Slot s) {
            switch (s.node.getOpType()) {
                case "SimplifiedLayerNormalization":
                    return s.input == 1 ? WeightRole.NORM_SCALE : WeightRole.UNKNOWN;
                case "SkipSimplifiedLayerNormalization":
                    return s.input == 2 ? WeightRole.NORM_SCALE : s.input == 3 ? WeightRole.BIAS : WeightRole.UNKNOWN;
                case "SkipLayerNormalization":
                    return s.input == 2 ? WeightRole.NORM_SCALE : s.input == 3 ? WeightRole.NORM_BIAS
                            : s.input == 4 ? WeightRole.BIAS : WeightRole.UNKNOWN;
                case "RotaryEmbedding":
                    return s.input == 2 || s.input == 3 ? WeightRole.ROTARY_CACHE : WeightRole.UNKNOWN;
                case "GroupQueryAttention":
                    return s.input == 7 || s.input == 8 ? WeightRole.ROTARY_CACHE : WeightRole.UNKNOWN;
                case "MatMulNBits":
                    return s.input == 1 ? WeightRole.QUANTIZED : s.input == 2 ? WeightRole.QUANT_SCALES
                            : s.input == 3 ? WeightRole.QUANT_ZERO_POINTS : s.input == 5 ? WeightRole.BIAS
                            : WeightRole.UNKNOWN;
                case "GatherBlockQuantized":
                    return s.input == 0 ? WeightRole.QUANTIZED : s.input == 2 ? WeightRole.QUANT_SCALES
                            : s.input == 3 ? WeightRole.QUANT_ZERO_POINTS : WeightRole.UNKNOWN;
                default:
                    return WeightRole.UNKNOWN;
            }
        }

        /** The node producing {@code value}, looking through casts (float16 exports cast around norms). */
        private NodeProto producer(String value) {
            NodeProto p = producers.get(value);
            for (int depth = 0; p != null && PASS_THROUGH.contains(p.getOpType()) && depth < 4; depth++) {
                p = producers.get(p.getInput(0));
            }
            return p;
        }

        /**
         * {@code x · rsqrt(mean(x²) + ε)} of a decomposed RMSNorm: a {@code Mul} by {@code Div(1, Sqrt(…))},
         * {@code Reciprocal(Sqrt(…))} or {@code Rsqrt}, or a {@code Div(x, Sqrt(…))}, whose square root is of a
         * {@code ReduceMean} (plus ε).
         */
        private boolean isRmsNormalized(NodeProto n) {
            if (n.getOpType().equals("Div") && n.getInputCount() == 2) {
                return isRootOfMean(producer(n.getInput(1)));
            }
            if (!n.getOpType().equals("Mul") || n.getInputCount() != 2) {
                return false;
            }
            for (String in : n.getInputList()) {
                NodeProto p = producer(in);
                if (p == null) {
                    continue;
                }
                boolean inverse = p.getOpType().equals("Reciprocal") || p.getOpType().equals("Rsqrt")
                        || p.getOpType().equals("Div") && p.getInputCount() == 2;
                NodeProto root = p.getOpType().equals("Rsqrt") ? p : inverse
                        ? producer(p.getInput(p.getOpType().equals("Div") ? 1 : 0)) : null;
                if (root != null && (root == p ? isMeanPlusEps(producer(p.getInput(0))) : isRootOfMean(root))) {
                    return true;
                }
            }
            return false;
        }

        /** {@code Sqrt(ReduceMean(…) + ε)} or {@code Sqrt(ReduceMean(…))}. */
        private boolean isRootOfMean(NodeProto sqrt) {
            return sqrt != null && sqrt.getOpType().equals("Sqrt") && isMeanPlusEps(producer(sqrt.getInput(0)));
        }

        private boolean isMeanPlusEps(NodeProto n) {
            if (n == null) {
                return false;
            }
            if (n.getOpType().equals("ReduceMean")) {
                return true;
            }
            if (!n.getOpType().equals("Add")) {
                return false;
            }
            for (String in : n.getInputList()) {
                NodeProto p = producer(in);
                if (p != null && p.getOpType().equals("ReduceMean")) {
                    return true;
                }
            }
            return false;
        }

        /** {@code Div(x - mean, Sqrt(var + eps))} of a decomposed LayerNorm. */
        private boolean isNormalizedDiv(NodeProto n) {
            if (!n.getOpType().equals("Div") || n.getInputCount() != 2) {
                return false;
            }
            NodeProto denominator = producers.get(n.getInput(1));
            NodeProto numerator = producers.get(n.getInput(0));
            return denominator != null && denominator.getOpType().equals("Sqrt")
                    && numerator != null && numerator.getOpType().equals("Sub");
        }

        /** {@code Mul(normalized, scale)} of a decomposed LayerNorm. */
        private boolean isNormScaleMul(NodeProto n) {
            if (!n.getOpType().equals("Mul") || n.getInputCount() != 2) {
                return false;
            }
            for (String in : n.getInputList()) {
                NodeProto p = producers.get(in);
                if (p != null && isNormalizedDiv(p)) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * The module path: from the first consumer's node name when it is a path ({@code /a/b/Op} gives
     * {@code a.b}; PEFT's wrapper {@code /a/b/base_layer/Op} of a layer with LoRA, as Olive exports it, gives
     * {@code a.b} too), else from a dotted weight name without its last part ({@code a.b.weight} gives {@code a.b}),
     * else empty.
     */
    private static String modulePath(Weight w, List<Slot> slots) {
        for (Slot s : slots) {
            String name = s.node.getName();
            int last = name.lastIndexOf('/');
            if (name.startsWith("/") && last > 0) {
                String path = name.substring(1, last).replace('/', '.');
                return path.endsWith(PEFT_BASE_LAYER) ? path.substring(0, path.length() - PEFT_BASE_LAYER.length())
                        : path;
            }
        }
        String n = w.name();
        int dot = n.lastIndexOf('.');
        if (dot > 0 && !n.contains("::")) {
            return n.substring(0, dot);
        }
        return "";
    }

    private record Slot(NodeProto node, int input) {
    }
}
