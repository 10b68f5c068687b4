package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.PackedProjection;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a PEFT module's weight is in an ONNX graph. The {@link GraphIndex} gives each dense weight ({@code MatMul}
 * {@code [in, out]}, {@code Gemm} either layout) the module path of the nodes that use it
 * ({@code /encoder/layer.0/attention/self/query/MatMul} → {@code encoder.layer.0.attention.self.query}); a module
 * is the weight with that path (GenAI's {@code attn} and PyTorch's {@code self_attn} alike), or else the one whose
 * path ends with the module's name or is a suffix of it, if just one does. A packed projection (GenAI's
 * {@code qkv_proj}, {@code gate_up_proj}) is seen as the modules it packs ({@code self_attn.q_proj}, ...), each a
 * slice of its outputs. An int4/int8 {@code MatMulNBits} weight is the {@code [K, N]} weight its codes stand for
 * (named by its codes initializer). A user mapping (module → initializer name) comes first. A module found nowhere is an error listing
 * the module paths that share the longest prefix with it.
 */
public final class ModuleMap {
    /**
     * A dense weight of the graph, with whether it is stored {@code [in, out]} (MatMul) or {@code [out, in]}; a
     * module packed with others into one weight ({@link PackedProjection}) is its outputs {@code [offset, offset +
     * out)} of the {@code stored} outputs there are.
     */
    public record Target(String weight, boolean inOut, long in, long out, String bias, long offset, long stored) {
        Target(String weight, boolean inOut, long in, long out, String bias) {
            this(weight, inOut, in, out, bias, 0, out);
        }

        /** Whether the module shares its weight with others (a part of a packed projection). */
        public boolean packed() {
            return stored != out;
        }

        /** Where entry {@code [o, i]} of the {@code [out, in]} matrix sits in the stored weight. */
        public int at(int o, int i) {
            return inOut ? i * (int) stored + (int) offset + o : ((int) offset + o) * (int) in + i;
        }

        /** The stored values {@code stored} as an {@code [out, in]} row-major matrix. */
        public float[] outIn(float[] stored) {
            int n = (int) in;
            float[] m = new float[(int) out * n];
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < n; i++) {
                    m[o * n + i] = stored[at(o, i)];
                }
            }
            return m;
        }
    }

    private final OnnxModel model;
    private final Map<String, Target> byPath = new LinkedHashMap<>();
    private final Map<String, String> user;

    public ModuleMap(OnnxModel model, Map<String, String> user) {
        this.model = model;
        this.user = Map.copyOf(user);
        GraphIndex index = GraphIndex.of(model);
        Map<String, String> biases = new LinkedHashMap<>();
        for (IndexedWeight w : index.weights()) {
            if (w.role() == WeightRole.BIAS) {
                biases.put(w.modulePath(), w.name());
            }
        }
        for (IndexedWeight w : index.weights()) {
            if (w.weight().shape().length != 2) {
                continue;
            }
            long[] s = w.weight().shape();
            boolean inOut = w.role().storedInOut();
            if (inOut || w.role() == WeightRole.GEMM_WEIGHT_OUT_IN) {
                byPath.put(pytorchPath(w), new Target(w.name(), inOut, inOut ? s[0] : s[1], inOut ? s[1] : s[0],
                        biases.get(w.modulePath())));
            }
        }
        for (QuantizedMatMul q : QuantizedMatMul.find(model)) { // an int4 weight: its codes stand for [K, N]
            IndexedWeight w = index.get(q.codes().name()).orElseThrow();
            byPath.put(pytorchPath(w), new Target(q.codes().name(), true, q.quantization().k(), q.quantization().n(),
                    biases.get(w.modulePath())));
        }
        for (PackedProjection p : PackedProjection.find(model, index)) { // after the weights: parts replace the whole
            Target whole = byPath.values().stream().filter(t -> t.weight().equals(p.weight())).findFirst().orElseThrow();
            byPath.values().remove(whole);
            for (PackedProjection.Part part : p.parts()) {
                byPath.put(part.module(), new Target(p.weight(), true, whole.in(), part.size(), null, part.offset(),
                        whole.out()));
            }
        }
    }

    /**
     * The module path PyTorch gives {@code w}'s module: GenAI's builder names weights {@code ….MatMul.weight} under an
     * {@code attn} scope that Hugging Face's Llama-family models call {@code self_attn}.
     */
    private static String pytorchPath(IndexedWeight w) {
        return w.name().contains(".MatMul.weight") ? w.modulePath().replace(".attn.", ".self_attn.") : w.modulePath();
    }

    /** Every dense weight, by module path, in graph order. */
    public Map<String, Target> targets() {
        return java.util.Collections.unmodifiableMap(byPath);
    }

    /** The weight of {@code module}. */
    public Target find(String module) {
        String mapped = user.get(module);
        if (mapped != null) {
            return byPath.values().stream().filter(t -> t.weight().equals(mapped)).findFirst()
                    .orElseThrow(() -> new GraftException(model.file(), mapped, "is mapped from module '" + module
                            + "' but is not a dense (MatMul or Gemm) weight of the graph"));
        }
        for (String spelling : List.of(module, module.replace(".self_attn.", ".attn."),
                module.replace(".attn.", ".self_attn."))) { // GenAI's scope is attn, PyTorch's self_attn
            Target exact = byPath.get(spelling);
            if (exact != null) {
                return exact;
            }
        }
        List<Target> suffix = new ArrayList<>();
        byPath.forEach((path, t) -> {
            if (!path.isEmpty() && (path.endsWith("." + module) || module.endsWith("." + path))) {
                suffix.add(t);
            }
        });
        if (suffix.size() == 1) {
            return suffix.get(0);
        }
        List<String> candidates = byPath.keySet().stream()
                .sorted(Comparator.comparingInt((String p) -> -common(p, module)).thenComparing(p -> p)).limit(5)
                .toList();
        throw new GraftException(model.file(), null, "has no dense weight for adapter module '" + module + "'"
                + (suffix.size() > 1 ? " (" + suffix.size() + " modules end like it)" : "") + "; the closest: "
                + candidates + " (map it with a module mapping: module → initializer name)");
    }

    private static int common(String a, String b) {
        int n = 0;
        while (n < Math.min(a.length(), b.length()) && a.charAt(n) == b.charAt(n)) {
            n++;
        }
        return n;
    }
}
