package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TensorInputs;
import java.util.ArrayList;
import java.util.List;

/**
 * The task-vector family (mergekit's "generalized task arithmetic"), per tensor:
 * <ol>
 *   <li>task vectors {@code δᵢ = θᵢ − θ₀};</li>
 *   <li>optional sparsification of each {@code δᵢ} to {@code δ̂ᵢ} (trim, drop), with optional rescale;</li>
 *   <li>optional sign election {@code γ = sgn(Σ wᵢδ̂ᵢ)} ({@link Convention#MERGEKIT}) or {@code sgn(Σ δ̂ᵢ)}
 *   ({@link Convention#PAPER}; {@code sign_by_count} votes with {@code Σ sgn δ̂ᵢ}), ties to +, and the agreement
 *   mask {@code mᵢ = [sgn(wᵢδ̂ᵢ) = γ]} (mergekit) or {@code [sgn(δ̂ᵢ) = γ]} (paper); zeros never agree;</li>
 *   <li>combination {@code τ = Σ wᵢδ̂ᵢmᵢ}, divided, if {@code normalize}, by {@code Σ wᵢmᵢ} (mergekit) or
 *   {@code Σ mᵢ} (paper: the mean over agreeing entries); without election {@code mᵢ = 1} and the divisor is
 *   {@code Σ wᵢ}; a zero divisor counts as 1;</li>
 *   <li>{@code θ = θ₀ + λ·τ}.</li>
 * </ol>
 * Parameters: per model {@code weight} (required), {@code density} (1.0) and the sparsifier's own; global
 * {@code normalize} and {@code rescale} (defaults per method), {@code lambda} (1.0), {@code int8_mask}
 * (accepted for mergekit recipes; no effect), and with the paper convention {@code sign_by_count} (0).
 */
abstract class TaskVectorMerge implements MergeMethod {
    private final String name;
    private final Sparsifier sparsifier;
    private final boolean electSigns;
    private final boolean normalizeByDefault;
    private final boolean rescaleByDefault;
    private final Convention convention;

    TaskVectorMerge(String name, Sparsifier sparsifier, boolean electSigns, boolean normalizeByDefault,
                    boolean rescaleByDefault, Convention convention) {
        this.name = name;
        this.sparsifier = sparsifier;
        this.electSigns = electSigns;
        this.normalizeByDefault = normalizeByDefault;
        this.rescaleByDefault = rescaleByDefault;
        this.convention = convention;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public boolean needsBase() {
        return true;
    }

    /** The convention this instance follows. */
    public Convention convention() {
        return convention;
    }

    @Override
    public List<ParameterSpec> parameters() {
        List<ParameterSpec> p = new ArrayList<>();
        p.add(ParameterSpec.model("weight", null, "weight of the model's task vector"));
        p.add(ParameterSpec.model("density", 1.0, "fraction of each task vector kept"));
        if (sparsifier != null) {
            p.addAll(sparsifier.parameters());
        }
        p.add(ParameterSpec.global("normalize", normalizeByDefault ? 1.0 : 0.0, "divide by the summed weights"));
        p.add(ParameterSpec.global("rescale", rescaleByDefault ? 1.0 : 0.0, "rescale kept entries after dropping"));
        p.add(ParameterSpec.global("lambda", 1.0, "scale of the merged task vector"));
        p.add(ParameterSpec.global("int8_mask", 0.0, "mergekit memory option; no effect in Graft"));
        if (convention == Convention.PAPER) {
            p.add(ParameterSpec.global("sign_by_count", 0.0, "elect the sign by counting signs, not summing"));
        }
        return p;
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        float[] base = in.base();
        float[][] models = in.models();
        int m = models.length;
        int n = out.length;
        boolean rescale = in.flag("rescale");
        float[][] deltas = new float[m][];
        double[] w = new double[m];
        for (int i = 0; i < m; i++) {
            float[] d = new float[n];
            float[] x = models[i];
            for (int j = 0; j < n; j++) {
                d[j] = x[j] - base[j];
            }
            if (sparsifier != null) {
                in.diagnostics().trimmed(i, sparsifier.apply(d, in, i, convention, rescale));
            }
            deltas[i] = d;
            w[i] = in.model(i, "weight");
        }
        boolean normalize = in.flag("normalize");
        double lambda = in.global("lambda");
        boolean byCount = convention == Convention.PAPER && in.flag("sign_by_count");
        double weightSum = 0;
        for (double x : w) {
            weightSum += x;
        }
        double plainDivisor = Math.abs(weightSum) < 1e-8 ? 1 : weightSum;
        for (int j = 0; j < n; j++) {
            double mixed = 0;
            double divisor;
            if (electSigns) {
                double vote = 0;
                for (int i = 0; i < m; i++) {
                    double d = deltas[i][j];
                    vote += convention == Convention.MERGEKIT ? w[i] * d : byCount ? Math.signum(d) : d;
                }
                double elected = vote >= 0 ? 1 : -1;
                divisor = 0;
                for (int i = 0; i < m; i++) {
                    double wd = w[i] * deltas[i][j];
                    double sign = Math.signum(convention == Convention.MERGEKIT ? wd : deltas[i][j]);
                    if (sign == elected) {
                        mixed += wd;
                        divisor += convention == Convention.MERGEKIT ? w[i] : 1;
                    }
                }
                if (divisor == 0) {
                    divisor = 1;
                }
            } else {
                for (int i = 0; i < m; i++) {
                    mixed += w[i] * deltas[i][j];
                }
                divisor = plainDivisor;
            }
            if (normalize) {
                mixed /= divisor;
            }
            out[j] = (float) (base[j] + lambda * mixed);
        }
    }
}
