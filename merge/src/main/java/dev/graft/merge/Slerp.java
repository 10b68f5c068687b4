package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Spherical linear interpolation (Shoemake, <i>Animating rotation with quaternion curves</i>, SIGGRAPH 1985;
 * mergekit's {@code slerp}) between the base {@code v0} (t = 0) and one model {@code v1} (t = 1), over the
 * flattened tensor: with {@code cos Ω = ⟨v0/‖v0‖, v1/‖v1‖⟩},
 * {@code θ = sin((1−t)Ω)/sin Ω · v0 + sin(tΩ)/sin Ω · v1}; when {@code |cos Ω| > 0.9995} it falls back to
 * {@code (1−t)·v0 + t·v1}. Parameter {@code t} (global, required; may be a gradient over layers).
 */
public final class Slerp implements MergeMethod {
    static final double DOT_THRESHOLD = 0.9995;

    @Override
    public String name() {
        return "slerp";
    }

    @Override
    public boolean needsBase() {
        return true;
    }

    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.global("t", null, "interpolation position: 0 is the base, 1 the model"));
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        if (in.modelCount() != 1) {
            throw new InvalidSettingException("slerp interpolates the base and exactly one model, got "
                    + in.modelCount() + " models besides the base");
        }
        interpolate(in.global("t"), in.base(), in.models()[0], out);
    }

    static void interpolate(double t, float[] v0, float[] v1, float[] out) {
        double n0 = 0;
        double n1 = 0;
        double dot = 0;
        for (int i = 0; i < v0.length; i++) {
            n0 += (double) v0[i] * v0[i];
            n1 += (double) v1[i] * v1[i];
            dot += (double) v0[i] * v1[i];
        }
        n0 = Math.sqrt(n0);
        n1 = Math.sqrt(n1);
        double cos = dot / ((n0 > 1e-8 ? n0 : 1) * (n1 > 1e-8 ? n1 : 1));
        double s0;
        double s1;
        if (Math.abs(cos) > DOT_THRESHOLD) {
            s0 = 1 - t;
            s1 = t;
        } else {
            double omega = Math.acos(cos);
            double sin = Math.sin(omega);
            s0 = Math.sin(omega - omega * t) / sin;
            s1 = Math.sin(omega * t) / sin;
        }
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) (s0 * v0[i] + s1 * v1[i]);
        }
    }
}
