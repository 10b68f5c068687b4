package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
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
        float[][] models = in.models();
        double[] w = new double[models.length];
        double total = 0;
        for (int m = 0; m < models.length; m++) {
            w[m] = in.model(m, "weight");
            total += w[m];
        }
        boolean normalize = in.flag("normalize");
        if (normalize && total == 0) {
            throw new InvalidSettingException("linear merge of '" + in.tensor() + "': weights sum to 0, cannot"
                    + " normalize");
        }
        for (int i = 0; i < out.length; i++) {
            double acc = 0;
            for (int m = 0; m < models.length; m++) {
                acc += w[m] * models[m][i];
            }
            out[i] = (float) (normalize ? acc / total : acc);
        }
    }
}
