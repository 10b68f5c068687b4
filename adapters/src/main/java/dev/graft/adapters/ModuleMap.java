package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
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
 * is the weight with that path, or else the one whose path ends with the module's name or is a suffix of it, if
 * just one does. A user mapping (module → initializer name) comes first. A module found nowhere is an error listing
 * the module paths that share the longest prefix with it.
 */
public final class ModuleMap {
    /** A dense weight of the graph, with whether it is stored {@code [in, out]} (MatMul) or {@code [out, in]}. */
    public record Target(String weight, boolean inOut, long in, long out, String bias) {
        /** Where entry {@code [o, i]} of the {@code [out, in]} matrix sits in the stored weight. */
        public int at(int o, int i) {
            return inOut ? i * (int) out + o : o * (int) in + i;
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
                byPath.put(w.modulePath(), new Target(w.name(), inOut, inOut ? s[0] : s[1], inOut ? s[1] : s[0],
                        biases.get(w.modulePath())));
            }
        }
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
        Target exact = byPath.get(module);
        if (exact != null) {
            return exact;
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
