package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Model Stock (Jang et al., <i>Model Stock: All we need is just a few fine-tuned models</i>, ECCV 2024): with
 * {@code N ≥ 2} fine-tuned models and {@code cos θ} the mean pairwise cosine of their task vectors
 * {@code θᵢ − θ₀}, {@code t = N·cos θ / (1 + (N−1)·cos θ)} and {@code θ = t·mean(θᵢ) + (1−t)·θ₀}. Over the
 * flattened tensor, or per PyTorch row with {@code filter_wise} (global, default 0). Cosines use norms clamped
 * at 1e-6 and are clamped to [−1, 1], as in mergekit.
 */
public final class ModelStock implements MergeMethod {
    @Override
    public String name() {
        return "model_stock";
    }

    @Override
    public boolean needsBase() {
        return true;
    }

    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.global("filter_wise", 0.0, "one t per row instead of per tensor"));
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        float[][] ws = in.models();
        int count = ws.length;
        if (count < 2) {
            throw new InvalidSettingException("model_stock needs at least two models besides the base, got " + count);
        }
        float[] w0 = in.base();
        Rows rows = in.flag("filter_wise") ? Rows.of(in.shape(), in.inOutLayout(), out.length) : Rows.flat(out.length);
        for (int row = 0; row < rows.count(); row++) {
            double cosSum = 0;
            int pairs = 0;
            for (int a = 0; a < count; a++) {
                for (int b = a + 1; b < count; b++) {
                    double dot = 0;
                    double na = 0;
                    double nb = 0;
                    for (int j = 0; j < rows.length(); j++) {
                        int i = rows.index(row, j);
                        double da = ws[a][i] - w0[i];
                        double db = ws[b][i] - w0[i];
                        dot += da * db;
                        na += da * da;
                        nb += db * db;
                    }
                    cosSum += Math.max(-1, Math.min(1, dot / Math.max(Math.sqrt(na) * Math.sqrt(nb), 1e-6)));
                    pairs++;
                }
            }
            double cos = cosSum / pairs;
            double t = count * cos / (1 + (count - 1) * cos);
            for (int j = 0; j < rows.length(); j++) {
                int i = rows.index(row, j);
                double mean = 0;
                for (float[] w : ws) {
                    mean += w[i];
                }
                mean /= count;
                out[i] = (float) (t * mean + (1 - t) * w0[i]);
            }
        }
    }
}
