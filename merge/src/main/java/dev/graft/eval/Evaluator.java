package dev.graft.eval;

import java.nio.file.Path;

/**
 * Scores a model file, for comparing merges: a metric where higher is better (accuracy, similarity) or lower
 * (loss). Graft's ready-made ones: a {@link Task} (accuracy, cross-entropy, perplexity, MRR, similarity on
 * samples) and {@link OutputSimilarity} (flattened outputs compared with a reference's, on probes or samples).
 */
public interface Evaluator {
    /** A short name for reports, e.g. {@code accuracy}. */
    String name();

    /** True if a higher score is better. */
    boolean higherIsBetter();

    /** The score of {@code model}. */
    double evaluate(Path model);
}
