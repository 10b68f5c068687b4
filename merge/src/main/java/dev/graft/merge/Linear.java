package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.SlicedMerge;
import dev.graft.plan.TensorInputs;
import java.util.List;

/**
 * Linear merge ("model soup"; Wortsman et al., <i>Model soups: averaging weights of multiple fine-tuned models
 * improves accuracy without increasing inference time</i>, ICML 2022): {@code θ = Σᵢ wᵢθᵢ / Σᵢ wᵢ} with
 * {@code normalize} on (the default, as in mergekit), or {@code θ = Σᵢ wᵢθᵢ} with it off. Accumulates in
 * float64 and rounds once. Parameters: {@code weight} (per model, required), {@code normalize} (global, on).
 * A base model, if given, only provides the graph.
 */
public final class Linear implements MergeMethod {
    @Override
    public String name() {
        return "linear";
    }

    @Override
    public boolean needsBase() {
        return false;
    }

    @Override
    public List<ParameterSpec> parameters() {
        return List.of(ParameterSpec.model("weight", null, "weight of the model"),
                ParameterSpec.global("normalize", 1.0, "divide by the summed weights"));
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        mix(weights(in), in.flag("normalize"), in.models(), out, out.length);
    }

    /** Elementwise, so any slice is merged on its own. */
    @Override
    public SlicedMerge sliced(TensorInputs in) {
        double[] w = weights(in);
        boolean normalize = in.flag("normalize");
        return new SlicedMerge() {
            @Override
            public boolean needsPass(int done) {
                return false;
            }

            @Override
            public void observe(int pass, float[] base, float[][] models, int first, int length) {
            }

            @Override
            public void merge(float[] base, float[][] models, int first, int length, float[] out) {
                mix(w, normalize, models, out, length);
            }
        };
    }

    /** Each model's weight; the last entry is their sum. */
    private static double[] weights(TensorInputs in) {
        int m = in.modelCount();
        double[] w = new double[m + 1];
        for (int i = 0; i < m; i++) {
            w[i] = in.model(i, "weight");
            w[m] += w[i];
        }
        if (in.flag("normalize") && w[m] == 0) {
            throw new InvalidSettingException("linear merge of '" + in.tensor() + "': weights sum to 0, cannot"
                    + " normalize");
        }
        return w;
    }

    private static void mix(double[] w, boolean normalize, float[][] models, float[] out, int length) {
        double total = w[models.length];
        for (int i = 0; i < length; i++) {
            double acc = 0;
            for (int m = 0; m < models.length; m++) {
                acc += w[m] * models[m][i];
            }
            out[i] = (float) (normalize ? acc / total : acc);
        }
    }
}
