package dev.graft.index;

import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one rule for which layer a module path belongs to: the number after a {@code layer}, {@code layers},
 * {@code h}, {@code block}, {@code blocks}, {@code encoder_layer} or {@code decoder_layer} segment, separated by
 * {@code .}, {@code /} or {@code _} ({@code encoder.layer.3.attention.self.query}, {@code /encoder/layer.3/…},
 * {@code model.layers.12.mlp}, {@code transformer.h.3.attn}). A module's kind is its path with that number
 * replaced by {@code *}: the modules of one kind in different layers play the same part.
 */
public final class LayerNumbers {
    private static final Pattern LAYER =
            Pattern.compile("(?:^|[./])(?:layer|layers|h|block|blocks|encoder_layer|decoder_layer)[._](\\d+)(?=[./]|$)");

    private LayerNumbers() {
    }

    /**
     * The layer number in {@code path}, if it has one. ONNX Runtime GenAI's final norm is
     * {@code model.layers.N.final_norm_layernorm}, N the layer count: it belongs to no layer.
     */
    public static OptionalInt layerOf(String path) {
        if (path.endsWith(".final_norm_layernorm")) {
            return OptionalInt.empty();
        }
        Matcher m = LAYER.matcher(path);
        return m.find() ? OptionalInt.of(Integer.parseInt(m.group(1))) : OptionalInt.empty();
    }

    /** {@code path} with its layer number replaced by {@code *}, or null if it has none. */
    public static String kindOf(String path) {
        Matcher m = LAYER.matcher(path);
        return m.find() ? path.substring(0, m.start(1)) + "*" + path.substring(m.end(1)) : null;
    }
}
