package dev.graft.adapters;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.linalg.MatrixProducts;
import java.io.IOException;
import java.nio.file.Files;
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
 * tensors it does not know, each naming the tensor. An ONNX Runtime adapter file ({@code .onnx_adapter}) reads as
 * the adapter it holds ({@link #fromOnnxAdapter}), so every command that takes an adapter takes one.
 *
 * @param modules module name to its update, in the file's order
 * @param biases  module name to its trained bias
 */
public record PeftAdapter(PeftConfig config, Map<String, LoraModule> modules, Map<String, float[]> biases) {
    /** The config file of an adapter folder. */
    public static final String CONFIG = "adapter_config.json";
    /** The weights file of an adapter folder. */
    public static final String WEIGHTS = "adapter_model.safetensors";
    /** The file name ending of ONNX Runtime's adapter files. */
    public static final String ONNX_ADAPTER = ".onnx_adapter";
    private static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * {@code folder}'s file {@code name}, checked not to lead out of the folder through a link (an adapter folder
     * downloaded from a stranger may hold one to any file; {@link dev.graft.onnx.InsideFolder}).
     *
     * @throws dev.graft.UnsafePathException if it does
     */
    private static Path member(Path folder, String name) {
        dev.graft.onnx.InsideFolder.resolve(folder, name, folder.resolve(name));
        return folder.resolve(name);
    }

    /**
     * Reads the adapter in {@code folder}, or the ONNX Runtime adapter file {@code folder} names when it is a file
     * ending in {@code .onnx_adapter} ({@link #fromOnnxAdapter}).
     */
    public static PeftAdapter read(Path folder) {
        if (folder.getFileName() != null && folder.getFileName().toString().endsWith(ONNX_ADAPTER)
                && !Files.isDirectory(folder)) {
            return fromOnnxAdapter(folder);
        }
        PeftConfig config = PeftConfig.read(member(folder, CONFIG));
        Path file = member(folder, WEIGHTS);
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

    /**
     * The adapter in an ONNX Runtime adapter file (Graft's {@code lora export}, or Olive's {@code convert-adapters}):
     * each module's parameters {@code {module}.lora_A[.weight]} ({@code Aᵀ}, {@code [in, r]}) and
     * {@code {module}.lora_B[.weight]} ({@code s·Bᵀ}, {@code [r, out]}) transposed back into PEFT's factors, with
     * scale 1 (the file folds the scale into B; the config says so with {@code lora_alpha} equal to each rank).
     * Olive's int4-quantized adapter weights ({@code .quant.weight}) are refused.
     */
    public static PeftAdapter fromOnnxAdapter(Path file) {
        Map<String, OnnxAdapterFile.Parameter> as = new LinkedHashMap<>();
        Map<String, OnnxAdapterFile.Parameter> bs = new LinkedHashMap<>();
        for (OnnxAdapterFile.Parameter p : OnnxAdapterFile.read(file)) {
            if (p.name().contains(".quant.")) {
                throw new AdapterFormatException(file, p.name(), "is an int4-quantized adapter weight; Graft reads "
                        + "float32 and float16 adapters");
            }
            String side = p.name().endsWith(".lora_A.weight") || p.name().endsWith(".lora_A") ? "A"
                    : p.name().endsWith(".lora_B.weight") || p.name().endsWith(".lora_B") ? "B" : null;
            if (side == null || p.dims().length != 2) {
                throw new AdapterFormatException(file, p.name(), "is not a LoRA factor ({module}.lora_A[.weight] "
                        + "[in, r] or {module}.lora_B[.weight] [r, out]) but " + java.util.Arrays.toString(p.dims()));
            }
            String module = p.name().substring(0, p.name().lastIndexOf(".lora_" + side));
            (side.equals("A") ? as : bs).put(module, p);
        }
        Map<String, LoraModule> modules = new LinkedHashMap<>();
        Map<String, Integer> ranks = new LinkedHashMap<>();
        for (Map.Entry<String, OnnxAdapterFile.Parameter> e : as.entrySet()) {
            OnnxAdapterFile.Parameter a = e.getValue();
            OnnxAdapterFile.Parameter b = bs.remove(e.getKey());
            if (b == null) {
                throw new AdapterFormatException(file, a.name(), "has no partner lora_B for module '" + e.getKey()
                        + "'");
            }
            int in = (int) a.dims()[0];
            int rank = (int) a.dims()[1];
            int out = (int) b.dims()[1];
            if (b.dims()[0] != rank || rank == 0) {
                throw new AdapterFormatException(file, b.name(), "has rank " + b.dims()[0] + " but its lora_A has "
                        + rank + (rank == 0 ? " (an empty default, not an adapter)" : ""));
            }
            modules.put(e.getKey(), new LoraModule(e.getKey(), rank, in, out,
                    MatrixProducts.transpose(a.values(), in, rank), MatrixProducts.transpose(b.values(), rank, out),
                    1.0));
            ranks.put(e.getKey(), rank);
        }
        if (!bs.isEmpty()) {
            String module = bs.keySet().iterator().next();
            throw new AdapterFormatException(file, bs.get(module).name(), "has no partner lora_A for module '"
                    + module + "'");
        }
        if (modules.isEmpty()) {
            throw new AdapterFormatException(file, null, "holds no LoRA factors");
        }
        List<String> targets = modules.keySet().stream().map(m -> m.substring(m.lastIndexOf('.') + 1)).distinct()
                .toList();
        return new PeftAdapter(PeftConfig.unitScale(ranks, targets, "none"), Collections.unmodifiableMap(modules),
                Map.of());
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
