package dev.graft.adapters;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A PEFT LoRA adapter folder: {@code adapter_config.json} ({@link PeftConfig}) and
 * {@code adapter_model.safetensors} with {@code base_model.model.<module>.lora_A.weight} ({@code [r, in]}) and
 * {@code .lora_B.weight} ({@code [out, r]}) per module, and with {@code bias} {@code all} or {@code lora_only}
 * the trained biases {@code base_model.model.<module>.bias}, which replace the base model's. Each module's scale
 * comes from the config ({@code rank_pattern}, {@code alpha_pattern}, {@code use_rslora}). {@code fan_in_fan_out}
 * only says how PyTorch stores the base weight; the update's math is the same. Reading refuses DoRA magnitude
 * vectors, embedding LoRA, a factor without its partner, ranks that disagree between A, B and the config, and
 * tensors it does not know, each naming the tensor.
 *
 * @param modules module name to its update, in the file's order
 * @param biases  module name to its trained bias
 */
public record PeftAdapter(PeftConfig config, Map<String, LoraModule> modules, Map<String, float[]> biases) {
    /** The config file of an adapter folder. */
    public static final String CONFIG = "adapter_config.json";
    /** The weights file of an adapter folder. */
    public static final String WEIGHTS = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Reads the adapter in {@code folder}. */
    public static PeftAdapter read(Path folder) {
        PeftConfig config = PeftConfig.read(folder.resolve(CONFIG));
        Path file = folder.resolve(WEIGHTS);
        Map<String, LoraModule> modules = new LinkedHashMap<>();
        Map<String, float[]> biases = new LinkedHashMap<>();
        try (Safetensors s = Safetensors.open(file)) {
            Map<String, Safetensors.Entry> entries = s.entries();
            for (String name : entries.keySet()) {
                String module = name.startsWith(PREFIX) ? name.substring(PREFIX.length()) : name;
                if (module.contains("lora_magnitude_vector")) {
                    throw new AdapterFormatException(file, name, "is a DoRA magnitude vector; Graft implements plain "
                            + "LoRA");
                }
                if (module.contains("lora_embedding_")) {
                    throw new AdapterFormatException(file, name, "is an embedding LoRA factor, which Graft does not "
                            + "apply");
                }
                if (module.endsWith(".lora_B.weight")) {
                    String a = name.substring(0, name.length() - ".lora_B.weight".length()) + ".lora_A.weight";
                    if (!entries.containsKey(a)) {
                        throw new AdapterFormatException(file, name, "has no partner " + a);
                    }
                } else if (module.endsWith(".lora_A.weight")) {
                    String stem = name.substring(0, name.length() - ".lora_A.weight".length());
                    String m = module.substring(0, module.length() - ".lora_A.weight".length());
                    modules.put(m, module(file, config, s, m, stem));
                } else if (module.endsWith(".bias") && !config.bias().equals("none")) {
                    biases.put(module.substring(0, module.length() - ".bias".length()), s.floats(name));
                } else {
                    throw new AdapterFormatException(file, name, "is not a LoRA factor (…lora_A.weight, "
                            + "…lora_B.weight) nor, with bias 'all' or 'lora_only', a bias");
                }
            }
        }
        if (modules.isEmpty()) {
            throw new AdapterFormatException(file, null, "holds no LoRA factors");
        }
        return new PeftAdapter(config, Collections.unmodifiableMap(modules), Collections.unmodifiableMap(biases));
    }

    private static LoraModule module(Path file, PeftConfig config, Safetensors s, String module, String stem) {
        Safetensors.Entry a = s.entry(stem + ".lora_A.weight").orElseThrow();
        Safetensors.Entry b = s.entry(stem + ".lora_B.weight").orElseThrow(() -> new AdapterFormatException(file,
                stem + ".lora_A.weight", "has no partner " + stem + ".lora_B.weight"));
        if (a.shape().length != 2 || b.shape().length != 2) {
            throw new AdapterFormatException(file, a.name(), "LoRA factors must be matrices; A is "
                    + java.util.Arrays.toString(a.shape()) + ", B " + java.util.Arrays.toString(b.shape()));
        }
        int rank = (int) a.shape()[0];
        if (b.shape()[1] != rank) {
            throw new AdapterFormatException(file, b.name(), "has rank " + b.shape()[1] + " but A has " + rank);
        }
        if (rank != config.rank(module)) {
            throw new AdapterFormatException(file, a.name(), "has rank " + rank + " but the config says "
                    + config.rank(module));
        }
        return new LoraModule(module, rank, (int) a.shape()[1], (int) b.shape()[0], s.floats(a.name()),
                s.floats(b.name()), config.scale(module));
    }

    /** Writes the adapter into {@code folder} (created if needed), weights first, then the config. */
    public void write(Path folder) {
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        for (LoraModule m : modules.values()) {
            tensors.add(SafetensorsWriter.Tensor.of(PREFIX + m.name() + ".lora_A.weight",
                    new long[] {m.rank(), m.in()}, m.a()));
            tensors.add(SafetensorsWriter.Tensor.of(PREFIX + m.name() + ".lora_B.weight",
                    new long[] {m.out(), m.rank()}, m.b()));
        }
        biases.forEach((m, v) -> tensors.add(SafetensorsWriter.Tensor.of(PREFIX + m + ".bias",
                new long[] {v.length}, v)));
        SafetensorsWriter.write(folder.resolve(WEIGHTS), Map.of("format", "pt"), tensors);
        byte[] json;
        try {
            json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config.toJson());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        AtomicFile.write(folder.resolve(CONFIG), out -> AtomicFile.writeFully(out, java.nio.ByteBuffer.wrap(json)));
    }
}
