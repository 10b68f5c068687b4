package dev.graft.moe;

import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.data.ValueShapes;
import dev.graft.graph.AffineLayer;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Which dense layers a routed merge routes, and the router each group shares. A selection is {@code mlp} (every
 * dense layer outside attention: WEMoE's choice, the MLPs of a transformer and every layer of a model without
 * attention), {@code all} (every dense layer), or a regular expression that a layer's module path
 * ({@code encoder.layer.3.intermediate.dense}) must match. Only layers that some expert changes are routed. The
 * layers of one transformer layer share a router that reads the input of the first of them (WEMoE's router reads
 * the MLP's input); a layer outside numbered layers has a router of its own.
 */
final class RoutedLayers {
    /** Module names of attention: the layers {@code mlp} leaves out. */
    private static final Pattern ATTENTION = Pattern.compile(
            "(^|[./_])(attention|attn|self_attn|cross_attn|q_proj|k_proj|v_proj|o_proj|qkv_proj|query|key|value"
                    + "|c_attn)([./_]|$)");

    /** The layers one router serves: {@code input} (of rank {@code rank}, width {@code width}) is what it reads. */
    record Group(String name, String input, int rank, int width, List<Layer> layers) {
    }

    /** A routed dense layer: its node and weight, bias (or null), input and its rank, widths. */
    record Layer(AffineLayer affine, String modulePath, int inputRank) {
        String weight() {
            return affine.weight();
        }

        String bias() {
            return affine.bias();
        }
    }

    private RoutedLayers() {
    }

    /** The predicate a selection names. */
    static Predicate<String> selection(String spec) {
        return switch (spec) {
            case "mlp" -> path -> !ATTENTION.matcher(path).find();
            case "all" -> path -> true;
            default -> {
                try {
                    Pattern p = Pattern.compile(spec);
                    yield path -> p.matcher(path).find();
                } catch (PatternSyntaxException e) {
                    throw new InvalidSettingException("routed layers: '" + spec + "' is neither mlp, all nor a regular "
                            + "expression (" + e.getDescription() + ")");
                }
            }
        };
    }

    /**
     * The groups of {@code model}'s dense layers that {@code spec} selects and whose weight {@code changed} accepts,
     * in graph order; {@code shapes} gives each value's shape.
     *
     * @throws InvalidSettingException if nothing is selected
     * @throws UnsupportedModelException naming the weight for a selected layer that cannot be routed
     */
    static List<Group> of(OnnxModel model, String spec, Predicate<String> changed,
                          Map<String, ValueShapes.Shape> shapes) {
        Predicate<String> selected = selection(spec);
        GraphIndex index = GraphIndex.of(model);
        Map<String, List<Layer>> byGroup = new LinkedHashMap<>();
        for (AffineLayer a : AffineLayer.findCovered(model)) {
            if (a.patches() != null) {
                continue;
            }
            IndexedWeight w = index.get(a.weight()).orElseThrow();
            String path = w.modulePath().isEmpty() ? a.weight() : w.modulePath();
            if (!selected.test(path) || !changed.test(a.weight())) {
                continue;
            }
            ValueShapes.Shape shape = shapes.get(a.input());
            int rank = shape == null ? -1 : shape.shape().length;
            if (rank != 2 && rank != 3) {
                throw new UnsupportedModelException(model.file(), a.weight(), "is read by '" + a.node() + "' on '"
                        + a.input() + "' of rank " + rank + "; routed layers read [batch, width] or [batch, "
                        + "positions, width]");
            }
            String group = w.layer().isPresent() ? "layer." + w.layer().getAsInt() : path;
            byGroup.computeIfAbsent(group, g -> new ArrayList<>()).add(new Layer(a, path, rank));
        }
        if (byGroup.isEmpty()) {
            throw new InvalidSettingException("routed layers '" + spec + "' select no dense layer of " + model.file()
                    + " that an expert changes");
        }
        List<Group> out = new ArrayList<>();
        byGroup.forEach((name, layers) -> {
            Layer first = layers.get(0);
            out.add(new Group(name, first.affine().input(), first.inputRank(), first.affine().in(), layers));
        });
        return out;
    }
}
