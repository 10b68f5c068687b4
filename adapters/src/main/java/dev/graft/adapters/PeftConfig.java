package dev.graft.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A PEFT LoRA {@code adapter_config.json}: rank {@code r}, {@code lora_alpha}, {@code use_rslora},
 * {@code fan_in_fan_out}, {@code rank_pattern} and {@code alpha_pattern} (per-module overrides, a key matching a
 * module whose name is the key or ends with {@code .key}, as a regular expression), {@code target_modules} and
 * {@code bias}. Other keys are kept as they are and written back. Adapters Graft does not implement are refused
 * on reading: another {@code peft_type}, {@code use_dora}, and the options that change LoRA's math
 * ({@code use_qalora}, {@code lora_bias}).
 */
public record PeftConfig(int r, double loraAlpha, boolean useRslora, boolean fanInFanOut,
                         Map<String, Integer> rankPattern, Map<String, Double> alphaPattern,
                         List<String> targetModules, String bias, Map<String, JsonNode> other) {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> OWN = List.of("peft_type", "r", "lora_alpha", "use_rslora", "fan_in_fan_out",
            "rank_pattern", "alpha_pattern", "target_modules", "bias");

    /** A plain LoRA config: rank, alpha, the modules it targets, no bias. */
    public static PeftConfig of(int r, double alpha, List<String> targetModules) {
        return new PeftConfig(r, alpha, false, false, Map.of(), Map.of(), List.copyOf(targetModules), "none",
                Map.of());
    }

    /**
     * A config whose every module has scale 1 ({@code lora_alpha} equal to its rank): {@code r} is the largest of
     * {@code ranks} (module to rank), the others in {@code rank_pattern} and {@code alpha_pattern}. For adapters
     * whose factors carry the scale (extracted ones, those read from {@code .onnx_adapter} files).
     */
    public static PeftConfig unitScale(Map<String, Integer> ranks, List<String> targetModules, String bias) {
        int r = ranks.values().stream().max(Integer::compare).orElseThrow();
        Map<String, Integer> rankPattern = new java.util.LinkedHashMap<>();
        Map<String, Double> alphaPattern = new java.util.LinkedHashMap<>();
        ranks.forEach((m, k) -> {
            if (k != r) {
                rankPattern.put(m, k);
                alphaPattern.put(m, (double) k);
            }
        });
        return new PeftConfig(r, r, false, false, rankPattern, alphaPattern, List.copyOf(targetModules), bias,
                Map.of());
    }

    /** The rank of {@code module}: its {@code rank_pattern} entry, else {@code r}. */
    public int rank(String module) {
        return pattern(rankPattern, module).orElse(r);
    }

    /** The scale of {@code module}'s update, {@code α/r} or {@code α/√r} ({@link LoraScale}). */
    public double scale(String module) {
        return LoraScale.of(pattern(alphaPattern, module).orElse(loraAlpha), rank(module), useRslora);
    }

    private static <V> Optional<V> pattern(Map<String, V> patterns, String module) {
        for (Map.Entry<String, V> e : patterns.entrySet()) {
            if (module.equals(e.getKey()) || Pattern.matches("(.*\\.)?" + e.getKey(), module)) {
                return Optional.of(e.getValue());
            }
        }
        return Optional.empty();
    }

    /** Reads {@code file}, refusing adapter kinds Graft does not implement. */
    public static PeftConfig read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new AdapterFormatException(file, null, "is not a readable JSON adapter config: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new AdapterFormatException(file, null, "is not a JSON object");
        }
        String type = root.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw new AdapterFormatException(file, null, "is a " + type + " adapter; Graft reads LoRA adapters");
        }
        for (String unsupported : List.of("use_dora", "use_qalora", "lora_bias")) {
            if (root.path(unsupported).asBoolean(false)) {
                throw new AdapterFormatException(file, null, "sets " + unsupported + "; Graft implements plain LoRA "
                        + "(and rsLoRA) only");
            }
        }
        if (!root.path("r").canConvertToInt() || root.path("r").asInt() <= 0) {
            throw new AdapterFormatException(file, null, "needs a positive integer r");
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        root.path("rank_pattern").properties().forEach(e -> ranks.put(e.getKey(), e.getValue().asInt()));
        Map<String, Double> alphas = new LinkedHashMap<>();
        root.path("alpha_pattern").properties().forEach(e -> alphas.put(e.getKey(), e.getValue().asDouble()));
        List<String> targets = new ArrayList<>();
        JsonNode t = root.path("target_modules");
        if (t.isTextual()) {
            targets.add(t.asText());
        } else {
            t.forEach(x -> targets.add(x.asText()));
        }
        Map<String, JsonNode> other = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (!OWN.contains(e.getKey())) {
                other.put(e.getKey(), e.getValue());
            }
        }
        String bias = root.path("bias").asText("none");
        if (!List.of("none", "all", "lora_only").contains(bias)) {
            throw new AdapterFormatException(file, null, "has bias '" + bias + "' (known: none, all, lora_only)");
        }
        return new PeftConfig(root.get("r").asInt(), root.path("lora_alpha").asDouble(8),
                root.path("use_rslora").asBoolean(false), root.path("fan_in_fan_out").asBoolean(false), ranks, alphas,
                targets, bias, other);
    }

    /** The config as PEFT writes it. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "LORA");
        other.forEach(o::set);
        o.put("r", r);
        if (loraAlpha == Math.rint(loraAlpha)) {
            o.put("lora_alpha", (long) loraAlpha);
        } else {
            o.put("lora_alpha", loraAlpha);
        }
        o.put("use_rslora", useRslora);
        o.put("fan_in_fan_out", fanInFanOut);
        ObjectNode rp = o.putObject("rank_pattern");
        rankPattern.forEach(rp::put);
        ObjectNode ap = o.putObject("alpha_pattern");
        alphaPattern.forEach(ap::put);
        targetModules.forEach(o.putArray("target_modules")::add);
        o.put("bias", bias);
        return o;
    }
}
