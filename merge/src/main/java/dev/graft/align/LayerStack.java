package dev.graft.align;

import dev.graft.IncompatibleModelsException;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A model as a stack of numbered layers (a transformer's or a residual network's blocks, of dense layers or
 * convolutions), for operations that pair layers of two models of
 * different depths: each weight keyed by what it is in its layer (module path without the layer number, and role;
 * {@code encoder.layer.#.attention.self.query, MatMul B}), so that layer {@code i} of one model and layer {@code j}
 * of the other pair weight by weight whatever the exporter named them; each layer's input (the value its first
 * dense layer reads); and each layer's residual-branch outputs (the dense layers that write into the residual
 * stream, with their biases: zeroed, they make the block an identity in a pre-norm transformer).
 */
final class LayerStack {
    private static final Set<WeightRole> DENSE = Set.of(WeightRole.MATMUL_WEIGHT, WeightRole.GEMM_WEIGHT_IN_OUT,
            WeightRole.GEMM_WEIGHT_OUT_IN, WeightRole.CONV_WEIGHT);

    private final Path file;
    private final int depth;
    private final Map<String, String> keyOf = new LinkedHashMap<>();
    private final Map<String, String> byKey = new HashMap<>();
    private final Map<String, Integer> layerOf = new HashMap<>();
    private final List<String> inputs = new ArrayList<>();

    private LayerStack(Path file, int depth) {
        this.file = file;
        this.depth = depth;
    }

    /** The layers of {@code model}, or empty if it has fewer than two numbered layers. */
    static Optional<LayerStack> of(OnnxModel model) {
        GraphIndex index = GraphIndex.of(model);
        int depth = index.weights().stream().filter(w -> w.layer().isPresent())
                .mapToInt(w -> w.layer().getAsInt() + 1).max().orElse(0);
        if (depth < 2) {
            return Optional.empty();
        }
        LayerStack stack = new LayerStack(model.file(), depth);
        String[] firstInput = new String[depth];
        Set<String> shared = new HashSet<>();
        for (IndexedWeight w : index.weightsInGraphOrder()) {
            if (!w.weight().type().isFloatingPoint()) {
                continue;
            }
            int layer = w.layer().isPresent() ? w.layer().getAsInt() : -1;
            String key = key(w, layer);
            if (stack.byKey.putIfAbsent((layer < 0 ? "" : layer + "/") + key, w.name()) != null) {
                shared.add((layer < 0 ? "" : layer + "/") + key);
            }
            stack.keyOf.put(w.name(), key);
            stack.layerOf.put(w.name(), layer);
            if (layer >= 0 && firstInput[layer] == null && DENSE.contains(w.role()) && !w.uses().isEmpty()) {
                firstInput[layer] = input(w.uses().get(0));
            }
        }
        shared.forEach(stack.byKey::remove);
        for (int l = 0; l < depth; l++) {
            if (firstInput[l] == null) {
                return Optional.empty();
            }
            stack.inputs.add(firstInput[l]);
        }
        return Optional.of(stack);
    }

    /** The value a dense layer or convolution multiplies its weight with. */
    private static String input(dev.graft.index.WeightUse use) {
        boolean conv = use.opType().equals("Conv") && use.input() == 1 && !use.inputs().isEmpty();
        return conv ? use.inputs().get(0) : use.denseInput();
    }

    /** A weight's key: its name where the graph says nothing of it, else module path without the layer, and role. */
    private static String key(IndexedWeight w, int layer) {
        if (w.modulePath().isEmpty() || w.role() == WeightRole.UNKNOWN) {
            return "name " + withoutLayer(w.name(), layer);
        }
        return withoutLayer(w.modulePath(), layer) + ", " + w.role().label();
    }

    /** {@code path} with the layer number {@code layer} (a part between separators) replaced by {@code #}. */
    private static String withoutLayer(String path, int layer) {
        if (layer < 0) {
            return path;
        }
        Matcher m = Pattern.compile("(^|[./_])" + layer + "([./_]|$)").matcher(path);
        return m.find() ? path.substring(0, m.start()) + m.group(1) + "#" + m.group(2) + path.substring(m.end()) : path;
    }

    int depth() {
        return depth;
    }

    /** The value layer {@code l}'s first dense layer or convolution reads (for a transformer, the block's input). */
    String input(int l) {
        return inputs.get(l);
    }

    /** The layer of weight {@code name}, -1 for a weight outside the layers. */
    int layerOf(String name) {
        return layerOf.getOrDefault(name, -1);
    }

    /**
     * The name of this model's weight that pairs with {@code other}'s weight {@code name} when {@code other}'s layer
     * {@code l} is given this model's layer {@code mine} ({@code l}'s own number for weights outside the layers).
     *
     * @throws IncompatibleModelsException naming both files and the weight if this model has none
     */
    String pair(LayerStack other, String name, int mine) {
        String key = other.keyOf.get(name);
        String found = key == null ? null : byKey.get((mine < 0 ? "" : mine + "/") + key);
        if (found == null) {
            throw new IncompatibleModelsException(file, name, "has no counterpart here for " + other.file
                    + "'s weight (" + (key == null ? "not indexed" : key) + (mine < 0 ? "" : ", layer " + mine)
                    + "); the two models need the same layers");
        }
        return found;
    }

    /**
     * The weights of layer {@code l} that write into the residual stream: dense weights whose output axis is in the
     * group of the first layer's input ({@code spec} made with outputs permuted, so the residual stream is a group),
     * and the biases of the same modules.
     */
    Set<String> branchOutputs(OnnxModel model, PermutationSpec spec, int l) {
        GraphIndex index = GraphIndex.of(model);
        Map<String, List<PermutationSpec.PermutedAxis>> axes = spec.byWeight();
        int residual = residualGroup(index, spec);
        Set<String> modules = new HashSet<>();
        Set<String> out = new HashSet<>();
        for (IndexedWeight w : index.weights()) {
            if (layerOf(w.name()) == l && DENSE.contains(w.role()) && residual >= 0
                    && groupOf(axes.get(w.name()), 1 - inAxis(w.role())) == residual) {
                out.add(w.name());
                modules.add(w.modulePath());
            }
        }
        for (IndexedWeight w : index.weights()) {
            if (layerOf(w.name()) == l && w.role() == WeightRole.BIAS && modules.contains(w.modulePath())) {
                out.add(w.name());
            }
        }
        return out;
    }

    /** The residual stream's group in {@code spec}: the group of the first layer's input, -1 if none. */
    int residualGroup(GraphIndex index, PermutationSpec spec) {
        Map<String, List<PermutationSpec.PermutedAxis>> axes = spec.byWeight();
        for (IndexedWeight w : index.weightsInGraphOrder()) {
            if (layerOf(w.name()) == 0 && DENSE.contains(w.role())) {
                return groupOf(axes.get(w.name()), inAxis(w.role()));
            }
        }
        return -1;
    }

    private static int inAxis(WeightRole role) {
        return role == WeightRole.GEMM_WEIGHT_OUT_IN || role == WeightRole.CONV_WEIGHT ? 1 : 0;
    }

    private static int groupOf(List<PermutationSpec.PermutedAxis> axes, int axis) {
        for (PermutationSpec.PermutedAxis p : axes == null ? List.<PermutationSpec.PermutedAxis>of() : axes) {
            if (p.axis() == axis && p.factors().size() == 1) {
                return p.factors().get(0).group();
            }
        }
        return -1;
    }

    /** The model's floating-point weights, by name, in graph order. */
    Set<String> names() {
        return keyOf.keySet();
    }
}
