package dev.graft.eval;

import dev.graft.InvalidSettingException;
import java.util.Locale;

/**
 * How a task is scored. Classification: {@link #ACCURACY} (share of samples whose largest logit is the label) and
 * {@link #CROSS_ENTROPY} ({@code −mean log softmax(logits)[label]}, natural log); {@link #ENTROPY}, the mean
 * entropy of {@code softmax(logits)} (unlabelled: AdaMerging's objective, lower is more confident); {@link #PERPLEXITY} of a decoder
 * ({@code exp} of the mean negative log-likelihood of each next real token under the {@code [batch, positions,
 * vocabulary]} logits); retrieval {@link #MRR} (each query's own document ranked by cosine similarity among all
 * the documents; the mean of 1/rank, ties counted in the query's favour); {@link #SIMILARITY} to a reference model
 * (the mean over samples of the cosine between the model's and the reference's pooled outputs).
 */
public enum Metric {
    ACCURACY(true), CROSS_ENTROPY(false), ENTROPY(false), PERPLEXITY(false), MRR(true), SIMILARITY(true);

    private final boolean higherIsBetter;

    Metric(boolean higherIsBetter) {
        this.higherIsBetter = higherIsBetter;
    }

    /** True if a higher score is better (accuracy, MRR, similarity), false for losses. */
    public boolean higherIsBetter() {
        return higherIsBetter;
    }

    /** The name in task files and reports: {@code accuracy}, {@code cross_entropy}, ... */
    public String displayName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The metric named {@code name}. */
    public static Metric named(String name) {
        for (Metric m : values()) {
            if (m.displayName().equals(name)) {
                return m;
            }
        }
        throw new InvalidSettingException("unknown metric '" + name
                + "' (known: accuracy, cross_entropy, entropy, perplexity, mrr, similarity)");
    }

    /** Whether the task's data needs a label per sample. */
    boolean needsLabels() {
        return this == ACCURACY || this == CROSS_ENTROPY;
    }
}
