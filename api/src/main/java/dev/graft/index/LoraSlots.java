package dev.graft.index;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.onnx.OnnxModel;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The LoRA input slots of a graph: a dense layer {@code y = x·W} that computes {@code y = x·W + (x·A)·B} where
 * {@code A} ({@code [in, r]}, PEFT's {@code lora_A} transposed) and {@code B} ({@code [r, out]}, PEFT's {@code lora_B}
 * transposed, the scale {@code lora_alpha/r} folded in) are graph inputs, so that an application feeds an adapter's
 * factors per run (ONNX Runtime's {@code OrtLoraAdapter}, or ONNX Runtime GenAI's adapters) or feeds none and gets the
 * base function from the inputs' defaults. Two namings are recognised, each read by a {@code MatMul}:
 * <ul>
 *   <li>Olive's ExtractAdapters pass ({@code make_inputs}): {@code {module}.lora_A.weight} and
 *   {@code {module}.lora_B.weight}, the rank a symbolic {@code lora_r}, defaults of rank 0 (zero-element
 *   initializers); the base layer's node sits under PEFT's {@code .../{module}/base_layer/};</li>
 *   <li>Graft's {@code lora export} ({@code LoraRuntime}): {@code {module}.lora_A} and {@code {module}.lora_B}, with
 *   zero defaults of rank 1.</li>
 * </ul>
 * An adapter file for such a graph names its parameters after the slots ({@link Slot#inputA()},
 * {@link Slot#inputB()}); Olive's {@code convert-adapters} writes the same values under the same names.
 */
public final class LoraSlots {
    /** One module's slot: the inputs holding {@code Aᵀ} and {@code s·Bᵀ}, and the layer's widths. */
    public record Slot(String module, String inputA, String inputB, long in, long out) {
    }

    private static final List<String[]> NAMINGS = List.of(
            new String[] {".lora_A.weight", ".lora_B.weight"},
            new String[] {".lora_A", ".lora_B"});

    private final Map<String, Slot> byModule;
    private final Map<String, Slot> byInput;

    private LoraSlots(Map<String, Slot> byModule) {
        this.byModule = Collections.unmodifiableMap(byModule);
        Map<String, Slot> inputs = new HashMap<>();
        byModule.values().forEach(s -> {
            inputs.put(s.inputA(), s);
            inputs.put(s.inputB(), s);
        });
        this.byInput = Collections.unmodifiableMap(inputs);
    }

    /** The slots of {@code model}'s main graph, by module, in the order of the graph's inputs. */
    public static LoraSlots of(OnnxModel model) {
        return of(model.proto().getGraph());
    }

    static LoraSlots of(GraphProto graph) {
        Map<String, ValueInfoProto> inputs = new LinkedHashMap<>();
        graph.getInputList().forEach(v -> inputs.put(v.getName(), v));
        Map<String, TensorProto> defaults = new HashMap<>();
        graph.getInitializerList().forEach(t -> defaults.put(t.getName(), t));
        Set<String> readByMatMul = new HashSet<>();
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("MatMul") && n.getDomain().isEmpty() && n.getInputCount() == 2) {
                readByMatMul.add(n.getInput(1));
            }
        }
        Map<String, Slot> slots = new LinkedHashMap<>();
        for (String name : inputs.keySet()) {
            for (String[] naming : NAMINGS) {
                if (!name.endsWith(naming[0])) {
                    continue;
                }
                String module = name.substring(0, name.length() - naming[0].length());
                String b = module + naming[1];
                if (module.isEmpty() || !inputs.containsKey(b) || !readByMatMul.contains(name)
                        || !readByMatMul.contains(b)) {
                    continue;
                }
                long in = dim(inputs.get(name), defaults.get(name), 0);
                long out = dim(inputs.get(b), defaults.get(b), 1);
                slots.put(module, new Slot(module, name, b, in, out));
                break;
            }
        }
        return new LoraSlots(slots);
    }

    /** Dimension {@code axis} of a 2-D input: its declared value, else its default's, else -1. */
    private static long dim(ValueInfoProto input, TensorProto initial, int axis) {
        TensorShapeProto shape = input.getType().getTensorType().getShape();
        if (shape.getDimCount() == 2 && shape.getDim(axis).hasDimValue()) {
            return shape.getDim(axis).getDimValue();
        }
        return initial != null && initial.getDimsCount() == 2 ? initial.getDims(axis) : -1;
    }

    /** The slots, by module. */
    public Map<String, Slot> byModule() {
        return byModule;
    }

    /** The slot of {@code module}, if it has one. */
    public Optional<Slot> of(String module) {
        return Optional.ofNullable(byModule.get(module));
    }

    /** The slot that input {@code name} (or its default initializer) belongs to, if any. */
    public Optional<Slot> holding(String name) {
        return Optional.ofNullable(byInput.get(name));
    }

    /** Whether the graph has no slots. */
    public boolean isEmpty() {
        return byModule.isEmpty();
    }
}
