package dev.graft.index;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.onnx.Attributes;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A dense weight that packs several of a PyTorch model's projections side by side along its outputs, as ONNX
 * Runtime GenAI's builder writes them: {@code attn.qkv_proj} holds Q|K|V ({@code [hidden, (heads + 2·kv_heads)·
 * head]}, head counts from the {@code GroupQueryAttention} or {@code MultiHeadAttention} node it feeds), and
 * {@code mlp.gate_up_proj} holds gate|up (two halves). Each part is named as Hugging Face names the module it stands
 * for ({@code self_attn.q_proj}, {@code mlp.gate_proj}), so adapters trained on the PyTorch model find it.
 *
 * @param weight the packed initializer ({@code MatMul} B, {@code [in, out]}; or the codes of a {@code MatMulNBits}
 *               weight, which stand for one, as GenAI's int4 builds store it)
 * @param parts  the projections it packs, in order along the outputs
 */
public record PackedProjection(String weight, List<Part> parts) {
    /** One projection: its Hugging Face module path and its outputs {@code [offset, offset + size)}. */
    public record Part(String module, int offset, int size) {
    }

    /** Every packed projection of {@code model} that Graft can split. */
    public static List<PackedProjection> find(OnnxModel model, GraphIndex index) {
        Map<String, NodeProto> consumerOf = new HashMap<>();
        Map<String, NodeProto> matMulOf = new HashMap<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            n.getInputList().forEach(i -> consumerOf.putIfAbsent(i, n));
            boolean matMul = n.getOpType().equals("MatMul") && n.getInputCount() == 2
                    || n.getOpType().equals("MatMulNBits") && n.getDomain().equals("com.microsoft");
            if (matMul) {
                matMulOf.putIfAbsent(n.getInput(1), n);
            }
        }
        Map<String, QuantizedMatMul> quantized = QuantizedMatMul.byPart(model);
        List<PackedProjection> out = new ArrayList<>();
        for (IndexedWeight w : index.weights()) {
            QuantizedMatMul stored = quantized.get(w.name());
            boolean codes = stored != null && stored.codes().name().equals(w.name());
            boolean dense = w.role().storedInOut() && w.weight().shape().length == 2;
            if (!(dense || codes) || !w.weight().scope().isEmpty()) {
                continue;
            }
            String path = w.modulePath();
            int width = codes ? stored.quantization().n() : (int) w.weight().shape()[1];
            if (path.endsWith(".qkv_proj")) {
                String prefix = hfAttention(path.substring(0, path.length() - "qkv_proj".length()));
                NodeProto attention = attentionFed(matMulOf.get(w.name()), consumerOf);
                if (attention == null) {
                    continue;
                }
                long heads = Attributes.getInt(attention, "num_heads", 0);
                long kv = Attributes.getInt(attention, "kv_num_heads", heads);
                if (heads <= 0 || width % (heads + 2 * kv) != 0) {
                    continue;
                }
                int head = (int) (width / (heads + 2 * kv));
                int q = (int) heads * head;
                int k = (int) kv * head;
                out.add(new PackedProjection(w.name(), List.of(new Part(prefix + "q_proj", 0, q),
                        new Part(prefix + "k_proj", q, k), new Part(prefix + "v_proj", q + k, k))));
            } else if (path.endsWith(".gate_up_proj") && width % 2 == 0) {
                String prefix = path.substring(0, path.length() - "gate_up_proj".length());
                out.add(new PackedProjection(w.name(), List.of(new Part(prefix + "gate_proj", 0, width / 2),
                        new Part(prefix + "up_proj", width / 2, width / 2))));
            }
        }
        return out;
    }

    /** GenAI's attention scope {@code attn.} as Hugging Face's {@code self_attn.}. */
    private static String hfAttention(String prefix) {
        return prefix.endsWith(".attn.") ? prefix.substring(0, prefix.length() - "attn.".length()) + "self_attn."
                : prefix;
    }

    /** The attention node that {@code matMul} feeds as its query input (through a bias Add), or null. */
    private static NodeProto attentionFed(NodeProto matMul, Map<String, NodeProto> consumerOf) {
        if (matMul == null) {
            return null;
        }
        String value = matMul.getOutput(0);
        NodeProto next = consumerOf.get(value);
        if (next != null && next.getOpType().equals("Add")) {
            value = next.getOutput(0);
            next = consumerOf.get(value);
        }
        boolean attention = next != null && next.getDomain().equals("com.microsoft")
                && (next.getOpType().equals("GroupQueryAttention") || next.getOpType().equals("MultiHeadAttention"));
        return attention && next.getInput(0).equals(value) ? next : null;
    }
}
