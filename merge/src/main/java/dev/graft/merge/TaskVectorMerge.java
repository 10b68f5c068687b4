package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import dev.graft.plan.ModelScan;
import dev.graft.plan.ResolvedParameters;
import dev.graft.plan.SlicedMerge;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.TaskVectorStats;
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
    private static final int BLOCK = TaskVectorStats.BLOCK;
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
        p.add(ParameterSpec.model("density", 1.0, "fraction of each task vector kept").within(0, 1));
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
    public boolean recordsTaskVectors() {
        return true;
    }

    /**
     * In slices ({@link SlicedTaskVectorMerge}) for task arithmetic and per-tensor TIES trimming without the L1
     * rescale; the other sparsifiers decide from the whole task vector at once (null).
     */
    @Override
    public SlicedMerge sliced(TensorInputs in) {
        boolean trim = sparsifier instanceof MagnitudeTrim && !(in.prepared() instanceof ModelWideTopK);
        if (sparsifier != null && (!trim || in.flag("rescale") && convention == Convention.MERGEKIT)) {
            return null;
        }
        return new SlicedTaskVectorMerge(in, trim, electSigns, convention);
    }

    /**
     * Three steps, so that each input array is read from memory a few times rather than once per operation:
     * task vectors block by block as the values are read (with the diagnostics and the magnitude histograms
     * the sparsifier needs); each model's drop, decided over its whole task vector; then, block by block while
     * the block is in cache, the drops applied and the models combined. Block loops work on block-sized copies:
     * the JIT vectorises a loop only when all its arrays are indexed alike.
     */
    @Override
    public void merge(TensorInputs in, float[] out) {
        TensorInputs.Values values = in.readTo(0);
        float[] base = values.base();
        float[][] d = values.models(); // ours to overwrite: they become the task vectors, in place
        int m = d.length;
        int n = out.length;
        boolean histograms = sparsifier != null && sparsifier.ranksByMagnitude(in);
        int[][] magnitudes = histograms ? new int[m][MagnitudeRank.BINS] : null;
        TaskVectorStats stats = in.diagnostics().taskVectors();
        float[][] block = new float[m][BLOCK];
        for (int from = 0; from < n; from += BLOCK) {
            int to = Math.min(n, from + BLOCK);
            in.readTo(to); // the block arrives from the files while it is computed on
            for (int i = 0; i < m; i++) {
                float[] di = d[i];
                for (int j = from; j < to; j++) {
                    di[j] -= base[j];
                }
                if (histograms) {
                    MagnitudeRank.count(di, from, to, magnitudes[i]);
                }
                if (stats != null) {
                    System.arraycopy(di, from, block[i], 0, to - from);
                }
            }
            if (stats != null) {
                stats.add(block, to - from);
            }
        }
        boolean rescale = in.flag("rescale");
        Drop[] drops = new Drop[m];
        float[] w = new float[m];
        for (int i = 0; i < m; i++) {
            drops[i] = sparsifier == null ? Drop.done(n)
                    : sparsifier.prepare(d[i], histograms ? magnitudes[i] : null, in, i, convention, rescale);
            w[i] = (float) in.model(i, "weight");
        }
        new Combination(w, in, electSigns, convention).merge(base, d, drops, 0, n, out);
        if (sparsifier != null) {
            for (int i = 0; i < m; i++) {
                in.diagnostics().trimmed(i, n == 0 ? 0 : 1 - (double) drops[i].kept() / n);
            }
        }
    }

    /**
     * The combination of sparsified task vectors, one block at a time: {@code θ₀ + λ·τ} with {@code τ} the
     * (normalized) weighted sum, or the disjoint merge after sign election.
     */
    static final class Combination {
        private final float[][] block;
        private final float[] baseBlock = new float[BLOCK];
        private final float[] outBlock = new float[BLOCK];
        private final float[] w;
        private final boolean elect;
        private final boolean weightedVote;
        private final boolean byCount;
        private final boolean normalize;
        private final float lambda;
        private final float sumDivisor;
        private final float[] sign = new float[BLOCK];
        private final float[] agreeing = new float[BLOCK];

        Combination(float[] w, TensorInputs in, boolean elect, Convention convention) {
            this.w = w;
            this.elect = elect;
            this.weightedVote = convention == Convention.MERGEKIT;
            this.byCount = convention == Convention.PAPER && in.flag("sign_by_count");
            this.normalize = in.flag("normalize");
            this.lambda = (float) in.global("lambda");
            float sum = 0;
            for (float x : w) {
                sum += x;
            }
            this.sumDivisor = normalize && Math.abs(sum) >= 1e-8 ? sum : 1; // Σ wᵢ when normalizing, unless ~0
            this.block = new float[w.length][BLOCK];
        }

        /**
         * Merges {@code length} entries, {@code [first, first + length)} of the tensor, held from index 0 of
         * {@code base}, of each task vector in {@code d} and of {@code out}: block by block, each model's block is
         * copied out of its task vector (which stays as it is), dropped ({@code drops}) and combined while in cache.
         */
        void merge(float[] base, float[][] d, Drop[] drops, int first, int length, float[] out) {
            for (int from = 0; from < length; from += BLOCK) {
                int len = Math.min(BLOCK, length - from);
                for (int i = 0; i < d.length; i++) {
                    System.arraycopy(d[i], from, block[i], 0, len);
                    drops[i].apply(block[i], first + from, len);
                }
                System.arraycopy(base, from, baseBlock, 0, len);
                apply(baseBlock, block, outBlock, len);
                System.arraycopy(outBlock, 0, out, from, len);
            }
        }

        private void apply(float[] base, float[][] d, float[] out, int len) {
            if (elect) {
                elect(base, d, out, len);
            } else {
                sum(base, d, out, len);
            }
        }

        /** {@code θ₀ + λ·Σ wᵢδᵢ / divisor}, accumulating in {@code out}. */
        private void sum(float[] base, float[][] d, float[] out, int len) {
            java.util.Arrays.fill(out, 0, len, 0f);
            for (int i = 0; i < d.length; i++) {
                float wi = w[i];
                float[] di = d[i];
                for (int j = 0; j < len; j++) {
                    out[j] += wi * di[j];
                }
            }
            float divisor = sumDivisor;
            for (int j = 0; j < len; j++) {
                out[j] = base[j] + lambda * (out[j] / divisor);
            }
        }

        /**
         * Sign election and disjoint merge, model by model, in loops without data-dependent branches or bit
         * tricks (the JIT vectorises them): {@code s = sgn(vote)} with 0 counted as +; an entry agrees iff
         * {@code x·s > 0}, where {@code x} is {@code wᵢδᵢ} (mergekit) or {@code δᵢ} (paper), which
         * {@link MagnitudeRank#step} turns into exactly 1 or 0. Models are added in order, so results equal the
         * entry-by-entry definition bit for bit.
         */
        private void elect(float[] base, float[][] d, float[] out, int len) {
            java.util.Arrays.fill(sign, 0, len, 0f);
            java.util.Arrays.fill(agreeing, 0, len, 0f);
            for (int i = 0; i < d.length; i++) {
                float[] di = d[i];
                float wi = w[i];
                if (weightedVote) {
                    for (int j = 0; j < len; j++) {
                        sign[j] += wi * di[j];
                    }
                } else if (byCount) {
                    for (int j = 0; j < len; j++) {
                        float x = di[j];
                        sign[j] += MagnitudeRank.step(x) - MagnitudeRank.step(-x);
                    }
                } else {
                    for (int j = 0; j < len; j++) {
                        sign[j] += di[j];
                    }
                }
            }
            for (int j = 0; j < len; j++) {
                sign[j] = 1f - 2f * MagnitudeRank.step(-sign[j]); // a zero vote elects +
            }
            float[] mixed = out;
            java.util.Arrays.fill(mixed, 0, len, 0f);
            for (int i = 0; i < d.length; i++) {
                float[] di = d[i];
                float wi = w[i];
                if (weightedVote) {
                    for (int j = 0; j < len; j++) {
                        float x = wi * di[j];
                        float agrees = MagnitudeRank.step(x * sign[j]);
                        mixed[j] += x * agrees;
                        agreeing[j] += agrees * wi;
                    }
                } else {
                    for (int j = 0; j < len; j++) {
                        float x = di[j];
                        float agrees = MagnitudeRank.step(x * sign[j]);
                        mixed[j] += wi * (x * agrees);
                        agreeing[j] += agrees;
                    }
                }
            }
            if (normalize) {
                for (int j = 0; j < len; j++) {
                    float div = agreeing[j];
                    // div, or 1 where nothing agrees: then mixed is 0 and stays so
                    float safe = div + (1f - MagnitudeRank.step(Math.abs(div)));
                    out[j] = base[j] + lambda * (mixed[j] / safe);
                }
            } else {
                for (int j = 0; j < len; j++) {
                    out[j] = base[j] + lambda * mixed[j];
                }
            }
        }
    }
}
