package dev.graft.moe;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.data.Calibration;
import dev.graft.eval.Pooling;
import dev.graft.graph.TokenGate;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.onnx.OnnxModel;
import dev.graft.verify.DecoderInputs;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Where an upcycled mixture's gates come from: one vector per expert and layer, the columns of the layer's
 * {@code [width, E]} gate {@code G} (a token {@code h} scores expert {@code e} by {@code h·G[:, e]}), as mergekit-moe
 * makes them, or fitted to the prompts' tokens:
 * <ul>
 * <li>{@link #fitted}: a multinomial logistic regression per layer from the base's hidden state at the layer's MLP
 * input at the real tokens of the prompts (at most {@link #TOKENS_PER_EXPERT} per expert, evenly spread) to the
 * expert whose prompts the token is in ({@link RouterFit}, ridge 1e-2 on standardized features); the gate logits are its {@code h·W + b}, so the top-k weights are its posteriors
 * renormalized. Graft's default: on the decoder fixtures it routes held-out tokens to their domain's expert far
 * more often than {@code hidden} does (README);</li>
 * <li>{@link #hidden}: the base model's hidden state at the layer's MLP input for each of expert {@code e}'s
 * prompts (the last real token for a causal decoder, as mergekit; the mean over real tokens for an encoder, whose
 * last token is a separator: Graft's choice), averaged over the prompts, minus the same average over its negative
 * prompts if given, L2-normalized;</li>
 * <li>{@link #cheapEmbed}: the same from the token embeddings (each prompt's sum of its real tokens' rows of the
 * embedding table), one vector per expert used at every layer;</li>
 * <li>{@link #random}: standard normal entries from a seed.</li>
 * </ul>
 */
public final class GateSource {
    /** The most tokens of each expert's prompts a fitted gate is fitted to (evenly spread over them). */
    public static final int TOKENS_PER_EXPERT = 1024;

    private enum Kind { FITTED, HIDDEN, CHEAP_EMBED, RANDOM }

    private final Kind kind;
    private final List<Calibration> positive;
    private final List<Calibration> negative;
    private final long seed;

    private GateSource(Kind kind, List<Calibration> positive, List<Calibration> negative, long seed) {
        this.kind = kind;
        this.positive = positive;
        this.negative = negative;
        this.seed = seed;
    }

    /** Gates fitted to the tokens of each expert's prompts ({@code prompts}, in the experts' order). */
    public static GateSource fitted(List<Calibration> prompts) {
        return new GateSource(Kind.FITTED, List.copyOf(prompts), List.of(), 0);
    }

    /**
     * Gates from the base's hidden states on each expert's prompts ({@code positive}, in the experts' order) less
     * those on its {@code negative} prompts (empty, or one set per expert).
     */
    public static GateSource hidden(List<Calibration> positive, List<Calibration> negative) {
        return new GateSource(Kind.HIDDEN, List.copyOf(positive), List.copyOf(negative), 0);
    }

    /** Gates from the token embeddings of each expert's prompts, less those of its negative prompts. */
    public static GateSource cheapEmbed(List<Calibration> positive, List<Calibration> negative) {
        return new GateSource(Kind.CHEAP_EMBED, List.copyOf(positive), List.copyOf(negative), 0);
    }

    /** Standard normal gates from {@code seed}. */
    public static GateSource random(long seed) {
        return new GateSource(Kind.RANDOM, List.of(), List.of(), seed);
    }

    /** How the gates are made, for provenance and reports. */
    public String describe() {
        return switch (kind) {
            case FITTED -> "fitted";
            case HIDDEN -> "hidden" + (negative.isEmpty() ? "" : " (with negative prompts)");
            case CHEAP_EMBED -> "cheap_embed" + (negative.isEmpty() ? "" : " (with negative prompts)");
            case RANDOM -> "random (seed " + seed + ")";
        };
    }


    /**
     * The gates of {@code inputs} by value, for {@code experts} experts, from base model {@code base}'s values (the
     * places an upcycled mixture's MLPs read, or the inputs of the layers a mixture of LoRA experts adapts).
     *
     * @throws InvalidSettingException if the prompts are not one set per expert
     * @throws UnsupportedModelException naming the base if {@code cheap_embed} finds no embedding table of the width
     */
    public Map<String, TokenGate> gates(Path base, List<TokenGate.Input> inputs, int experts) {
        if (kind != Kind.RANDOM && (positive.size() != experts || !negative.isEmpty() && negative.size() != experts)) {
            throw new InvalidSettingException("gates are made from one set of prompts per expert: " + experts
                    + " experts but " + positive.size() + " prompt sets" + (negative.isEmpty() ? ""
                    : " and " + negative.size() + " negative sets"));
        }
        Map<String, TokenGate> out = new LinkedHashMap<>();
        switch (kind) {
            case FITTED -> {
                Set<String> values = new LinkedHashSet<>();
                inputs.forEach(in -> values.add(in.value()));
                Map<String, List<float[][]>> tokens = PooledInputs.tokens(base, values, positive);
                List<TokenGate> fitted = inputs.parallelStream().map(in -> {
                    Router.Posterior fit = RouterFit.logistic(tokens.get(in.value()).stream()
                            .map(GateSource::spread).toList(), 1, RouterFit.RIDGE);
                    return new TokenGate(fit.weight(), fit.bias());
                }).toList();
                for (int i = 0; i < inputs.size(); i++) {
                    out.put(inputs.get(i).value(), fitted.get(i));
                }
            }
            case RANDOM -> {
                Random random = new Random(seed);
                for (TokenGate.Input in : inputs) {
                    float[] g = new float[in.width() * experts];
                    for (int k = 0; k < g.length; k++) {
                        g[k] = (float) random.nextGaussian();
                    }
                    out.put(in.value(), new TokenGate(g, null));
                }
            }
            case HIDDEN -> {
                Set<String> values = new LinkedHashSet<>();
                inputs.forEach(in -> values.add(in.value()));
                Pooling pooling;
                try (OnnxModel m = OnnxModel.open(base)) {
                    pooling = DecoderInputs.of(m).causal() ? Pooling.LAST : Pooling.MEAN;
                }
                Map<String, List<float[][]>> pos = PooledInputs.of(base, values, positive, pooling);
                Map<String, List<float[][]>> neg = negative.isEmpty() ? Map.of()
                        : PooledInputs.of(base, values, negative, pooling);
                for (TokenGate.Input in : inputs) {
                    out.put(in.value(), new TokenGate(columns(pos.get(in.value()), neg.get(in.value()), in.width()),
                            null));
                }
            }
            case CHEAP_EMBED -> {
                int width = inputs.get(0).width();
                float[] g;
                try (OnnxModel m = OnnxModel.open(base)) {
                    float[] table = embeddingTable(m, width);
                    g = columns(embedded(table, width, positive), negative.isEmpty() ? null
                            : embedded(table, width, negative), width);
                }
                for (TokenGate.Input in : inputs) {
                    if (in.width() != width) {
                        throw new UnsupportedModelException(base, in.value(), "is " + in.width() + " wide but the "
                                + "token embeddings are " + width + "; cheap_embed gates need one width");
                    }
                    out.put(in.value(), new TokenGate(g, null));
                }
            }
        }
        return out;
    }

    /**
     * At most {@link #TOKENS_PER_EXPERT} of {@code rows}, evenly spread (every row if there are fewer): what a
     * fitted gate is fitted to, so that its cost does not grow with the prompts' length.
     */
    private static float[][] spread(float[][] rows) {
        if (rows.length <= TOKENS_PER_EXPERT) {
            return rows;
        }
        float[][] kept = new float[TOKENS_PER_EXPERT][];
        for (int i = 0; i < kept.length; i++) {
            kept[i] = rows[(int) ((long) i * rows.length / kept.length)];
        }
        return kept;
    }

    /**
     * The {@code [width, E]} gate whose column {@code e} is the normalized mean of expert {@code e}'s rows less the
     * mean of its negative rows.
     */
    private static float[] columns(List<float[][]> positive, List<float[][]> negative, int width) {
        int experts = positive.size();
        float[] g = new float[width * experts];
        for (int e = 0; e < experts; e++) {
            double[] v = mean(positive.get(e), width);
            if (negative != null) {
                double[] n = mean(negative.get(e), width);
                for (int c = 0; c < width; c++) {
                    v[c] -= n[c];
                }
            }
            double norm = 0;
            for (double x : v) {
                norm += x * x;
            }
            norm = Math.sqrt(norm);
            for (int c = 0; c < width; c++) {
                g[c * experts + e] = (float) (norm == 0 ? 0 : v[c] / norm);
            }
        }
        return g;
    }

    private static double[] mean(float[][] rows, int width) {
        double[] m = new double[width];
        for (float[] r : rows) {
            for (int c = 0; c < width; c++) {
                m[c] += r[c] / (double) rows.length;
            }
        }
        return m;
    }

    /** For each set, each sample's sum of the embedding rows of its real tokens. */
    private static List<float[][]> embedded(float[] table, int width, List<Calibration> sets) {
        return sets.stream().map(set -> {
            float[][] rows = new float[set.samples()][];
            int position = 0;
            for (Map<String, ModelRunner.Input> batch : set.batches()) {
                ModelRunner.Input ids = batch.get("input_ids");
                if (ids == null || ids.shape().length != 2) {
                    throw new InvalidSettingException("cheap_embed gates need token prompts (input_ids [batch, "
                            + "positions]); " + set.source() + " has none");
                }
                ModelRunner.Input mask = batch.get("attention_mask");
                int n = (int) ids.shape()[0];
                int length = (int) ids.shape()[1];
                for (int b = 0; b < n; b++) {
                    float[] sum = new float[width];
                    for (int t = 0; t < length; t++) {
                        if (mask != null && mask.longs()[b * length + t] == 0) {
                            continue;
                        }
                        long id = ids.longs()[b * length + t];
                        if (id < 0 || (id + 1) * width > table.length) {
                            throw new InvalidSettingException("token id " + id + " of " + set.source()
                                    + " is outside the embedding table (" + table.length / width + " rows)");
                        }
                        for (int c = 0; c < width; c++) {
                            sum[c] += table[(int) id * width + c];
                        }
                    }
                    rows[set.sampleIndex(position + b)] = sum;
                }
                position += n;
            }
            return rows;
        }).toList();
    }

    /** The {@code [vocabulary, width]} table a {@code Gather} reads at graph input {@code input_ids}. */
    private static float[] embeddingTable(OnnxModel m, int width) {
        for (IndexedWeight w : GraphIndex.of(m).weights()) {
            long[] shape = w.weight().shape();
            if (shape.length == 2 && shape[1] == width && w.uses().stream().anyMatch(u -> u.opType().equals("Gather")
                    && u.input() == 0 && u.inputs().contains("input_ids"))) {
                return w.weight().toFloats();
            }
        }
        throw new IncompatibleModelsException(m.file(), "input_ids", "is not read by a Gather of a [vocabulary, "
                + width + "] embedding table; cheap_embed gates need one (use fitted, hidden or random gates)");
    }
}
