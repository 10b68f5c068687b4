package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.index.GraphIndex;
import dev.graft.onnx.OnnxModel;
import dev.graft.plan.TensorDepths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * How a search's coefficients divide the task vectors: {@code θ(c) = θ₀ + Σ_t Σ_b c_{t,b}·τ_{t,b}}, where block
 * {@code b} is the whole model ({@link Granularity#TASK}: one λ per task, task-wise AdaMerging), a layer
 * ({@link Granularity#LAYER}: layer-wise AdaMerging; tensors before the first numbered layer, the embeddings, are
 * one more block and those after the last, the heads, another, as {@link TensorDepths} places them; in a model
 * without numbered layers, such as an MLP or a CNN, each module — a weight and its bias — is a layer), or one
 * tensor ({@link Granularity#TENSOR}: aTLAS's parameter blocks), or a group of consecutive layers
 * ({@link Granularity#GROUP}, {@link LayerGroups}). Coefficient {@code (t, b)} is entry
 * {@code t·blocks + b} of the coefficient vector.
 *
 * @param granularity what a block is
 * @param names       each block's name, in coefficient order ({@code model}; {@code embeddings}, {@code layer 0},
 *                    ..., {@code head}; or tensor names)
 * @param blockOf     each mixed tensor's block
 */
public record CoefficientBlocks(Granularity granularity, List<String> names, Map<String, Integer> blockOf) {
    /** What one block of coefficients covers. */
    public enum Granularity {
        /** One coefficient per task. */
        TASK,
        /** One per task and layer (embeddings and heads a block each). */
        LAYER,
        /** One per task and tensor. */
        TENSOR,
        /** One per task and group of consecutive layers ({@link LayerGroups}: mergekit-evolve's layer groups). */
        GROUP;

        /** The granularity named {@code name} ({@code task}, {@code layer}, {@code tensor}, {@code group}). */
        public static Granularity named(String name) {
            for (Granularity g : values()) {
                if (g.name().toLowerCase(Locale.ROOT).equals(name)) {
                    return g;
                }
            }
            throw new InvalidSettingException("unknown granularity '" + name + "' (known: task, layer, tensor, group)");
        }
    }

    /**
     * The blocks of {@code tensors} (names of {@code model}'s initializers, in model order) at {@code granularity};
     * a tied copy ({@code tiedTo}: copy → table, as a transposed embedding for the head) is in its table's block, so
     * that it stays the table's copy. {@code groups} is the number of layer groups of {@link Granularity#GROUP}.
     */
    public static CoefficientBlocks of(OnnxModel model, List<String> tensors, Granularity granularity, int groups,
                                       Map<String, String> tiedTo) {
        List<String> names = new ArrayList<>();
        Map<String, Integer> blockOf = new LinkedHashMap<>();
        switch (granularity) {
            case TASK -> {
                names.add("model");
                tensors.forEach(t -> blockOf.put(t, 0));
            }
            case TENSOR -> {
                names.addAll(tensors);
                for (int i = 0; i < tensors.size(); i++) {
                    blockOf.put(tensors.get(i), i);
                }
            }
            case LAYER -> {
                GraphIndex index = GraphIndex.of(model);
                boolean numbered = tensors.stream()
                        .anyMatch(t -> index.get(t).map(w -> w.layer().isPresent()).orElse(false));
                Map<String, Integer> byName = new LinkedHashMap<>();
                if (numbered) {
                    TensorDepths depths = new TensorDepths(index);
                    java.util.function.IntFunction<String> name = st -> st < 0 ? "embeddings"
                            : st >= depths.layers() ? "head" : "layer " + st;
                    tensors.stream().mapToInt(depths::stage).sorted().distinct()
                            .forEach(st -> byName.put(name.apply(st), byName.size()));
                    tensors.forEach(t -> blockOf.put(t, byName.get(name.apply(depths.stage(t)))));
                } else { // no numbered layers (an MLP, a CNN): a layer is a module, its weight and bias
                    for (String t : tensors) {
                        String module = index.get(t).map(w -> w.modulePath()).filter(p -> !p.isEmpty()).orElse(t);
                        blockOf.put(t, byName.computeIfAbsent(module, k -> byName.size()));
                    }
                }
                names.addAll(byName.keySet());
            }
            case GROUP -> {
                LayerGroups g = LayerGroups.of(model, groups);
                for (int i = 0; i < g.count(); i++) {
                    names.add("group " + i);
                }
                tensors.forEach(t -> blockOf.put(t, g.groupOf().get(t)));
            }
            default -> throw new IllegalStateException(granularity.name());
        }
        tiedTo.forEach((copy, table) -> {
            if (blockOf.containsKey(copy) && blockOf.containsKey(table)) {
                blockOf.put(copy, blockOf.get(table));
            }
        });
        // a block left with no tensor (a tied copy's own, per tensor; a head that is only a copy, per layer) would be
        // a coefficient that changes nothing: the search would spend evaluations on it
        int[] renumbered = new int[names.size()];
        java.util.Arrays.fill(renumbered, -1);
        List<String> used = new ArrayList<>();
        for (int b = 0; b < names.size(); b++) {
            if (blockOf.containsValue(b)) {
                renumbered[b] = used.size();
                used.add(names.get(b));
            }
        }
        blockOf.replaceAll((t, b) -> renumbered[b]);
        return new CoefficientBlocks(granularity, List.copyOf(used), Map.copyOf(blockOf));
    }

    /** Blocks per task. */
    public int size() {
        return names.size();
    }
}
