package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import java.util.Map;

/**
 * Linear merge ("model soup"; Wortsman et al., <i>Model soups: averaging weights of multiple fine-tuned models
 * improves accuracy without increasing inference time</i>, ICML 2022):
 * <pre>θ = Σᵢ wᵢ θᵢ / Σᵢ wᵢ</pre>
 * with {@code normalize} on (the default, as in mergekit), or {@code θ = Σᵢ wᵢ θᵢ} with it off. Accumulates in
 * float64 and rounds once to float32.
 */
public final class Linear implements MergeMethod {
    private final boolean normalize;

    /** Normalized weighted average. */
    public Linear() {
        this(true);
    }

    /** @param normalize divide by the sum of the weights (default true) */
    public Linear(boolean normalize) {
        this.normalize = normalize;
    }

    @Override
    public String name() {
        return "linear";
    }

    @Override
    public Map<String, String> parameters() {
        return Map.of("normalize", Boolean.toString(normalize));
    }

    @Override
    public void merge(String tensor, float[][] models, double[] weights, float[] out) {
        double total = 0;
        for (double w : weights) {
            total += w;
        }
        if (normalize && total == 0) {
            throw new IllegalArgumentException("linear merge of '" + tensor + "': weights sum to 0, cannot normalize");
        }
        for (int i = 0; i < out.length; i++) {
            double acc = 0;
            for (int m = 0; m < models.length; m++) {
                acc += weights[m] * models[m][i];
            }
            out[i] = (float) (normalize ? acc / total : acc);
        }
    }
}
