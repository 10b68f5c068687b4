package dev.graft.adapters;

import dev.graft.GraftException;
import dev.graft.index.QuantizedMatMul;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.Arrays;
import java.util.Map;

/**
 * What fine-tuning changed in each dense weight of a base: {@code W_ft − W_base} as {@code [out, in]}, the two
 * weights paired by module ({@link ModuleMap}: exporters number anonymous weights apart, so names may differ), and
 * {@code MatMulNBits} weights compared dequantized. For extracting and sharing LoRA adapters.
 */
final class WeightUpdates {
    private final OnnxModel base;
    private final OnnxModel tuned;
    private final ModuleMap baseModules;
    private final ModuleMap tunedModules;
    private final Map<String, QuantizedMatMul> baseQuantized;
    private final Map<String, QuantizedMatMul> tunedQuantized;

    WeightUpdates(OnnxModel base, OnnxModel tuned) {
        this.base = base;
        this.tuned = tuned;
        this.baseModules = new ModuleMap(base, Map.of());
        this.tunedModules = new ModuleMap(tuned, Map.of());
        this.baseQuantized = QuantizedMatMul.byPart(base);
        this.tunedQuantized = QuantizedMatMul.byPart(tuned);
    }

    /** The base's dense weights by module path, in graph order. */
    Map<String, ModuleMap.Target> targets() {
        return baseModules.targets();
    }

    /** The base's quantized weight with part {@code name}, or null. */
    QuantizedMatMul quantized(String name) {
        return baseQuantized.get(name);
    }

    /**
     * The update of {@code module} (the base's weight {@code t}) as {@code [out, in]}, or null where the two are
     * equal; an error naming the fine-tune where it lacks the weight or stores it otherwise.
     */
    float[] of(String module, ModuleMap.Target t) {
        ModuleMap.Target tf = tunedModules.targets().getOrDefault(module, t);
        Weight wb = base.weight(t.weight()).orElseThrow();
        Weight wt = weight(tf.weight(), wb.shape());
        QuantizedMatMul qb = baseQuantized.get(t.weight());
        QuantizedMatMul qf = qb == null ? null : tunedQuantized.get(tf.weight());
        if (qb != null && (qf == null || !qf.sameLayout(qb))) {
            throw new GraftException(tuned.file(), tf.weight(), (qf == null ? "is not a MatMulNBits weight"
                    : "is quantized as " + qf.quantization()) + " but the base " + base.file() + " has "
                    + qb.quantization());
        }
        float[] before = qb != null ? qb.dequantize() : wb.toFloats();
        float[] after = qf != null ? qf.dequantize() : wt.toFloats();
        if (Arrays.equals(before, after)) {
            return null;
        }
        float[] delta = tf.outIn(after);
        float[] b = t.outIn(before);
        for (int k = 0; k < delta.length; k++) {
            delta[k] -= b[k];
        }
        return delta;
    }

    /** The fine-tune's weight {@code name}, checked against the base's {@code shape}. */
    Weight weight(String name, long[] shape) {
        Weight w = tuned.weight(name).orElseThrow(() -> new GraftException(tuned.file(), name, "is in the base model "
                + base.file() + " but not here; extraction needs two models of one graph"));
        if (!Arrays.equals(w.shape(), shape)) {
            throw new GraftException(tuned.file(), name, "has shape " + Arrays.toString(w.shape()) + "; the base has "
                    + Arrays.toString(shape));
        }
        return w;
    }
}
