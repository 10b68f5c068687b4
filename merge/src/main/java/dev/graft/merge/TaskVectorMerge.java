package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import dev.graft.plan.ModelScan;
import dev.graft.plan.ResolvedParameters;
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
 * (accepted for mergekit recipes; no effect), and with the paper convention {@code sign_by_count} (0) and, for
 * TIES, {@code global_topk} (0: per tensor; 1: over the whole model, see {@link ModelWideTopK}).
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
            if (sparsifier instanceof MagnitudeTrim) {
                p.add(ParameterSpec.global("global_topk", 0.0, "trim to the top density over the whole model"));
            }
        }
        return p;
    }

    @Override
    public boolean needsPreparation(ResolvedParameters modelWide) {
        return convention == Convention.PAPER && sparsifier instanceof MagnitudeTrim
                && modelWide.global("global_topk") != 0;
    }

    @Override
    public Object prepare(ModelScan scan, ResolvedParameters modelWide) {
        return ModelWideTopK.compute(scan);
    }

    @Override
    public void merge(TensorInputs in, float[] out) {
        float[] base = in.base();
        float[][] deltas = in.models(); // ours to overwrite: they become the task vectors, in place
        int m = deltas.length;
        int n = out.length;
        boolean rescale = in.flag("rescale");
        float[] w = new float[m];
        for (int i = 0; i < m; i++) {
            float[] d = deltas[i];
            for (int j = 0; j < n; j++) {
                d[j] -= base[j];
            }
            if (sparsifier != null) {
                in.diagnostics().trimmed(i, sparsifier.apply(d, in, i, convention, rescale));
            }
            w[i] = (float) in.model(i, "weight");
        }
        boolean normalize = in.flag("normalize");
        float lambda = (float) in.global("lambda");
        if (!electSigns) {
            combine(base, deltas, w, normalize, lambda, out);
        } else {
            elect(base, deltas, w, convention == Convention.MERGEKIT,
                    convention == Convention.PAPER && in.flag("sign_by_count"), normalize, lambda, out,
                    in.scratch(), in.scratch());
        }
    }

    /** {@code θ₀ + λ·Σ wᵢδᵢ}, divided by {@code Σ wᵢ} if normalizing (in the same order as the elections). */
    private static void combine(float[] base, float[][] d, float[] w, boolean normalize, float lambda, float[] out) {
        float sum = 0;
        for (float x : w) {
            sum += x;
        }
        float divisor = normalize && Math.abs(sum) >= 1e-8 ? sum : 1;
        float[] acc = out; // accumulate in the output, then finish in place
        java.util.Arrays.fill(acc, 0f);
        for (int i = 0; i < d.length; i++) {
            float wi = w[i];
            float[] di = d[i];
            for (int j = 0; j < acc.length; j++) {
                acc[j] += wi * di[j];
            }
        }
        for (int j = 0; j < out.length; j++) {
            out[j] = base[j] + lambda * (acc[j] / divisor);
        }
    }

    /**
     * Sign election and disjoint merge, column by column so that the loops have no data-dependent branches
     * (the JIT vectorises them): {@code s = sgn(vote)} with 0 counted as +; an entry agrees iff {@code x·s > 0},
     * where {@code x} is {@code wᵢδᵢ} (mergekit) or {@code δᵢ} (paper); {@code a = max(x·s, 0)} gives back
     * {@code x = a·s} exactly when it agrees and 0 otherwise, and {@link #indicator} turns {@code a} into exactly
     * 1 or 0. Models are added in order, so results equal the entry-by-entry definition bit for bit.
     */
    private static void elect(float[] base, float[][] d, float[] w, boolean weightedVote, boolean byCount,
                              boolean normalize, float lambda, float[] out, float[] sign, float[] divisor) {
        int n = out.length;
        java.util.Arrays.fill(sign, 0f);
        java.util.Arrays.fill(divisor, 0f);
        for (int i = 0; i < d.length; i++) {
            float[] di = d[i];
            float wi = w[i];
            for (int j = 0; j < n; j++) {
                float x = di[j];
                sign[j] += weightedVote ? wi * x : byCount ? unitSign(x) : x;
            }
        }
        for (int j = 0; j < n; j++) {
            sign[j] = Math.copySign(1f, sign[j] + 0f); // a zero vote (either sign of zero) elects +
        }
        float[] mixed = out;
        java.util.Arrays.fill(mixed, 0f);
        for (int i = 0; i < d.length; i++) {
            float[] di = d[i];
            float wi = w[i];
            for (int j = 0; j < n; j++) {
                float s = sign[j];
                float x = weightedVote ? wi * di[j] : di[j];
                float a = Math.max(x * s, 0f);
                float agrees = indicator(a);
                mixed[j] += weightedVote ? a * s : wi * (a * s);
                divisor[j] += weightedVote ? agrees * wi : agrees;
            }
        }
        for (int j = 0; j < n; j++) {
            float div = divisor[j];
            out[j] = base[j] + lambda * (normalize && div != 0 ? mixed[j] / div : mixed[j]);
        }
    }

    /** 1 for {@code a > 0} (subnormals included), 0 for 0: {@code min(a·2¹⁴⁹, 1)} in two exact steps. */
    private static float indicator(float a) {
        return Math.min(a * 0x1p100f * 0x1p49f, 1f);
    }

    /** −1, 0 or 1 by the sign of {@code x}, without branches. */
    private static float unitSign(float x) {
        return Math.max(Math.min(x * 0x1p100f * 0x1p49f, 1f), -1f);
    }
}
