package dev.graft.plan;

import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * A model's weights keyed by what the graph says they are, for pairing weights across exports whose names differ:
 * the module path and role from {@link GraphIndex} ({@code model.layers.0.self_attn.q_proj}, MatMul B). Weights of
 * unknown role or module, and keys two weights share, have no key.
 */
final class ModuleKeys {
    private final Path file;
    private GraphIndex index;
    private final Map<String, String> keyByName = new HashMap<>();
    private final Map<String, Weight> weightByKey = new HashMap<>();
    private final Map<String, WeightRole> roleByName = new HashMap<>();
    private final Map<String, String> consumerByName = new HashMap<>();

    private ModuleKeys(Path file) {
        this.file = file;
    }

    static ModuleKeys of(OnnxModel model) {
        ModuleKeys keys = new ModuleKeys(model.file());
        Set<String> shared = new HashSet<>();
        keys.index = GraphIndex.of(model);
        for (IndexedWeight w : keys.index.weights()) {
            if (w.weight().scope().isEmpty()) {
                keys.roleByName.put(w.name(), w.role());
                if (!w.uses().isEmpty()) {
                    keys.consumerByName.put(w.name(), w.uses().get(0).opType() + " '" + w.uses().get(0).node() + "'");
                }
            }
            if (!w.weight().scope().isEmpty() || w.role() == WeightRole.UNKNOWN || w.modulePath().isEmpty()) {
                continue;
            }
            String key = w.modulePath() + ", " + w.role().label();
            if (keys.weightByKey.putIfAbsent(key, w.weight()) != null) {
                shared.add(key);
            }
            keys.keyByName.put(w.name(), key);
        }
        shared.forEach(keys.weightByKey::remove);
        keys.keyByName.values().removeIf(shared::contains);
        return keys;
    }

    /** Whether {@code name} is an exporter's counter ({@code onnx::MatMul_1299}) rather than a name. */
    static boolean anonymous(String name) {
        return name.contains("::");
    }

    GraphIndex index() {
        return index;
    }

    Path file() {
        return file;
    }

    /** The role of main-graph weight {@code name}. */
    WeightRole roleOf(String name) {
        return roleByName.getOrDefault(name, WeightRole.UNKNOWN);
    }

    /** The op and node that first read main-graph weight {@code name} (empty if none). */
    String consumer(String name) {
        return consumerByName.getOrDefault(name, "");
    }

    /** The key of weight {@code name}, or null. */
    String keyOf(String name) {
        return keyByName.get(name);
    }

    /** The weight with {@code key}, or null. */
    Weight weightFor(String key) {
        return weightByKey.get(key);
    }

    /** What {@code w} is, for messages and reports (empty if the graph does not say). */
    String describe(Weight w) {
        String key = keyByName.get(w.name());
        return key == null ? "" : key;
    }
}
