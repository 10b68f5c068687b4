package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * NuSLERP (mergekit's {@code nuslerp}): spherical interpolation of exactly two models at
 * {@code t = w₁/(w₀ + w₁)} (0.5 if the weights sum to about 0), or, with a base, of their task vectors
 * ({@code θ = θ₀ + slerp(t, θ₁−θ₀, θ₂−θ₀)}). {@code slerp(t, a, b) = (sin((1−t)Ω)·a + sin(tΩ)·b)/sin Ω} with
 * {@code cos Ω} the cosine of {@code a} and {@code b}, and linear interpolation when {@code |sin Ω| < 1e-8}.
 * Vectors are the flattened tensor ({@code nuslerp_flatten}, default on), else each row, or with
 * {@code nuslerp_row_wise} each column (rows and columns in PyTorch's layout). Parameters: {@code weight}
 * (per model, required), {@code nuslerp_flatten} (1), {@code nuslerp_row_wise} (0).
 */
public final class NuSlerp implements MergeMethod {
    @Override
    public String name() {
        return "nuslerp";
    }

    /** The two task vectors, when there is a base. */
    @Override
    public long scratchBytes(long elements, int models) {
        return 8 * elements;
    }

    @Override
    public boolean needsBase() {
        return false;
    }

    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("weight", null, "weight of the model"),
                ParameterSpec.global("nuslerp_flatten", 1.0, "interpolate the whole tensor as one vector"),
                ParameterSpec.global("nuslerp_row_wise", 0.0, "without flattening, interpolate columns, not rows"));
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        if (in.modelCount() != 2) {
            throw new InvalidSettingException("nuslerp merges exactly two models (plus an optional base), got "
                    + in.modelCount());
        }
        double w0 = in.model(0, "weight");
        double w1 = in.model(1, "weight");
        double t = Math.abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
        int n = out.length;
        float[] base = in.base();
        float[] a = in.models()[0];
        float[] b = in.models()[1];
        if (base != null) {
            a = minus(a, base);
            b = minus(b, base);
        }
        Rows rows;
        if (in.flag("nuslerp_flatten")) {
            rows = Rows.flat(n);
        } else {
            Rows r = Rows.of(in.shape(), in.inOutLayout(), n);
            // row-wise in mergekit's sense takes vectors along the first PyTorch dimension: the columns
            rows = in.flag("nuslerp_row_wise") ? columns(r) : r;
        }
        for (int row = 0; row < rows.count(); row++) {
            double na = 0;
            double nb = 0;
            double dot = 0;
            for (int j = 0; j < rows.length(); j++) {
                int i = rows.index(row, j);
                na += (double) a[i] * a[i];
                nb += (double) b[i] * b[i];
                dot += (double) a[i] * b[i];
            }
            double cos = dot / (Math.max(Math.sqrt(na), 1e-7) * Math.max(Math.sqrt(nb), 1e-7));
            double omega = Math.acos(Math.max(-1, Math.min(1, cos)));
            double sin = Math.sin(omega);
            double s0 = Math.abs(sin) < 1e-8 ? 1 - t : Math.sin((1 - t) * omega) / sin;
            double s1 = Math.abs(sin) < 1e-8 ? t : Math.sin(t * omega) / sin;
            for (int j = 0; j < rows.length(); j++) {
                int i = rows.index(row, j);
                double v = s0 * a[i] + s1 * b[i];
                out[i] = (float) (base == null ? v : base[i] + v);
            }
        }
    }

    private static float[] minus(float[] x, float[] base) {
        float[] d = new float[x.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = x[i] - base[i];
        }
        return d;
    }

    /** The transposed view: vectors across rows. */
    private static Rows columns(Rows r) {
        return new Rows(r.length(), r.count(), r.start(), r.step(), r.rowStride());
    }
}
