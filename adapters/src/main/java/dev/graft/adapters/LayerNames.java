package dev.graft.adapters;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The layer number in a module path ({@code encoder.layer.3.attention.self.query}, {@code model.layers.12.mlp},
 * {@code transformer.h.3.attn}) and the module's kind: the path with that number replaced by {@code *}.
 */
final class LayerNames {
    private static final Pattern LAYER = Pattern.compile("(^|\\.)(layer|layers|h|block|blocks)\\.(\\d+)(?=\\.|$)");

    private LayerNames() {
    }

    /** The kind of {@code module}, or null if its path has no layer number. */
    static String kindOf(String module) {
        Matcher m = LAYER.matcher(module);
        return m.find() ? module.substring(0, m.start(3)) + "*" + module.substring(m.end(3)) : null;
    }

    /** The layer number of {@code module}, or -1. */
    static int layerOf(String module) {
        Matcher m = LAYER.matcher(module);
        return m.find() ? Integer.parseInt(m.group(3)) : -1;
    }
}
