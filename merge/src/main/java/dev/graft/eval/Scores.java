package dev.graft.eval;

/** The formulas of {@link Metric}, on rows already read from a model (one per sample). */
final class Scores {
    private Scores() {
    }

    /** Share of rows whose largest logit (the first of equal ones) is at the label. */
    static double accuracy(float[][] logits, int[] labels) {
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            int best = 0;
            for (int c = 1; c < logits[i].length; c++) {
                if (logits[i][c] > logits[i][best]) {
                    best = c;
                }
            }
            correct += best == labels[i] ? 1 : 0;
        }
        return (double) correct / labels.length;
    }

    /** {@code −mean log softmax(logits)[label]}. */
    static double crossEntropy(float[][] logits, int[] labels) {
        double total = 0;
        for (int i = 0; i < labels.length; i++) {
            total -= logSoftmax(logits[i], 0, logits[i].length, labels[i]);
        }
        return total / labels.length;
    }

    /**
     * The mean Shannon entropy of the predictions, {@code −Σ_c p_c log p_c} with {@code p = softmax(logits)}
     * (natural log): AdaMerging's objective (Yang et al., ICLR 2024), which needs no labels.
     */
    static double entropy(float[][] logits) {
        double total = 0;
        for (float[] row : logits) {
            double max = Double.NEGATIVE_INFINITY;
            for (float v : row) {
                max = Math.max(max, v);
            }
            double sum = 0;
            double weighted = 0;
            for (float v : row) {
                double e = Math.exp(v - max);
                sum += e;
                weighted += e * (v - max);
            }
            total += Math.log(sum) - weighted / sum; // −Σ p log p with log p = (v − max) − log Σ
        }
        return total / logits.length;
    }

    /** {@code log softmax(v[from .. from+n))[k]}, computed stably. */
    private static double logSoftmax(float[] v, int from, int n, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int c = 0; c < n; c++) {
            max = Math.max(max, v[from + c]);
        }
        double sum = 0;
        for (int c = 0; c < n; c++) {
            sum += Math.exp(v[from + c] - max);
        }
        return v[from + k] - max - Math.log(sum);
    }

    /** The mean of 1/rank of document {@code i} among all documents for query {@code i}, by cosine similarity. */
    static double meanReciprocalRank(float[][] queries, float[][] documents) {
        float[][] q = normalised(queries);
        float[][] d = normalised(documents);
        double total = 0;
        for (int i = 0; i < q.length; i++) {
            double own = dot(q[i], d[i]);
            int rank = 1;
            for (int j = 0; j < d.length; j++) {
                if (j != i && dot(q[i], d[j]) > own) {
                    rank++;
                }
            }
            total += 1.0 / rank;
        }
        return total / q.length;
    }

    /** The mean over rows of the cosine between {@code a[i]} and {@code b[i]}. */
    static double meanCosine(float[][] a, float[][] b) {
        float[][] x = normalised(a);
        float[][] y = normalised(b);
        double total = 0;
        for (int i = 0; i < x.length; i++) {
            total += dot(x[i], y[i]);
        }
        return total / x.length;
    }

    /**
     * The summed log-likelihood of each next real token of {@code ids} under {@code logits}
     * ({@code [batch, positions, vocabulary]}) and how many tokens that is: position {@code t} predicts
     * {@code ids[t+1]} where both are real ({@code mask} 1, or no mask).
     */
    static double[] nextTokenLogLikelihood(float[] logits, long[] shape, long[] ids, long[] mask) {
        int batch = (int) shape[0];
        int positions = (int) shape[1];
        int vocabulary = (int) shape[2];
        double sum = 0;
        long count = 0;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t + 1 < positions; t++) {
                int here = b * positions + t;
                if (mask != null && (mask[here] == 0 || mask[here + 1] == 0)) {
                    continue;
                }
                sum += logSoftmax(logits, here * vocabulary, vocabulary, (int) ids[here + 1]);
                count++;
            }
        }
        return new double[] {sum, count};
    }

    private static float[][] normalised(float[][] rows) {
        float[][] out = new float[rows.length][];
        for (int i = 0; i < rows.length; i++) {
            double norm = Math.sqrt(dot(rows[i], rows[i]));
            out[i] = new float[rows[i].length];
            for (int c = 0; c < rows[i].length; c++) {
                out[i][c] = (float) (rows[i][c] / Math.max(norm, 1e-12));
            }
        }
        return out;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }
}
