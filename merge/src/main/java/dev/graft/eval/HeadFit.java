package dev.graft.eval;


/**
 * A linear head refitted to features and labels by multinomial logistic regression, kept near the head it starts
 * from: minimises {@code (1/n)·Σ_i −log softmax(W·x_i + b)[y_i] + (λ/2)·‖W − W₀‖²}, which is convex, by gradient
 * descent with backtracking (Armijo's rule) from {@code W₀, b₀}, in float64.
 */
public final class HeadFit {
    private HeadFit() {
    }

    /**
     * {@code start} refitted to {@code features} (one row per sample, {@code start.width()} wide) and {@code labels}
     * (class indexes), with pull {@code lambda} towards {@code start}'s weights, in at most {@code iterations} steps.
     */
    public static Head fit(Head start, float[][] features, int[] labels, double lambda, int iterations) {
        int k = start.classes();
        int d = start.width();
        float[] w0 = start.weights();
        float[] b0 = start.bias();
        double[] theta = new double[k * d + k];
        for (int i = 0; i < k * d; i++) {
            theta[i] = w0[i];
        }
        for (int c = 0; c < k; c++) {
            theta[k * d + c] = b0[c];
        }
        double[] anchor = theta.clone();
        double[] grad = new double[theta.length];
        double loss = loss(theta, anchor, features, labels, k, d, lambda, grad);
        double step = 1;
        for (int it = 0; it < iterations; it++) {
            double norm = 0;
            for (double g : grad) {
                norm += g * g;
            }
            if (norm < 1e-14) {
                break;
            }
            double[] next = new double[theta.length];
            double[] nextGrad = new double[theta.length];
            double nextLoss;
            step *= 2;
            while (true) {
                for (int i = 0; i < theta.length; i++) {
                    next[i] = theta[i] - step * grad[i];
                }
                nextLoss = loss(next, anchor, features, labels, k, d, lambda, nextGrad);
                if (nextLoss <= loss - 0.5 * step * norm || step < 1e-12) {
                    break;
                }
                step /= 2;
            }
            if (nextLoss > loss) {
                break;
            }
            theta = next;
            grad = nextGrad;
            loss = nextLoss;
        }
        float[] w = new float[k * d];
        float[] b = new float[k];
        for (int i = 0; i < k * d; i++) {
            w[i] = (float) theta[i];
        }
        for (int c = 0; c < k; c++) {
            b[c] = (float) theta[k * d + c];
        }
        return Head.linear(w, b, k, d);
    }

    /** The objective at {@code theta}; its gradient into {@code grad}. */
    static double loss(double[] theta, double[] anchor, float[][] x, int[] y, int k, int d, double lambda,
                       double[] grad) {
        java.util.Arrays.fill(grad, 0);
        double total = 0;
        double[] logits = new double[k];
        for (int i = 0; i < x.length; i++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < k; c++) {
                double s = theta[k * d + c];
                for (int j = 0; j < d; j++) {
                    s += theta[c * d + j] * x[i][j];
                }
                logits[c] = s;
                max = Math.max(max, s);
            }
            double sum = 0;
            for (int c = 0; c < k; c++) {
                sum += Math.exp(logits[c] - max);
            }
            total -= logits[y[i]] - max - Math.log(sum);
            for (int c = 0; c < k; c++) {
                double p = Math.exp(logits[c] - max) / sum - (c == y[i] ? 1 : 0);
                for (int j = 0; j < d; j++) {
                    grad[c * d + j] += p * x[i][j] / x.length;
                }
                grad[k * d + c] += p / x.length;
            }
        }
        double penalty = 0;
        for (int i = 0; i < k * d; i++) {
            double diff = theta[i] - anchor[i];
            penalty += diff * diff;
            grad[i] += lambda * diff;
        }
        return total / x.length + 0.5 * lambda * penalty;
    }
}
