package dev.graft.moe;

import dev.graft.eval.Head;
import dev.graft.eval.HeadFit;
import java.util.List;

/**
 * Routers made from task-labelled samples: each sample's pooled router input and the task it came from.
 * {@link #logistic} fits a multinomial logistic regression (a convex fit, {@link HeadFit}) on standardized
 * features, folded back into the raw features' weights; {@link #prototypes} needs no fit: each task's prototype is
 * the mean of its L2-normalized samples, the logits are cosines to the prototypes times one sharpness, chosen
 * among a few by the likelihood of the samples' tasks. Either way the router's coefficients are the task
 * posteriors times a scale ({@link Router.Posterior}).
 */
final class RouterFit {
    /**
     * The default L2 pull of the logistic fit on standardized features: measured against 1e-3 and 1e-1, best or
     * equal on the digits and text tasks ({@code MoeBenchmark}).
     */
    static final double RIDGE = 1e-2;
    /** Gradient steps of the logistic fit. */
    static final int ITERATIONS = 300;
    private static final double[] SHARPNESS = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};

    private RouterFit() {
    }

    /**
     * A logistic-regression router on {@code perTask} (one array of pooled rows per expert), with L2 pull
     * {@code ridge} on the standardized features' weights.
     */
    static Router.Posterior logistic(List<float[][]> perTask, double scale, double ridge) {
        int experts = perTask.size();
        int width = perTask.get(0)[0].length;
        int n = perTask.stream().mapToInt(rows -> rows.length).sum();
        double[] mean = new double[width];
        double[] sd = new double[width];
        for (float[][] rows : perTask) {
            for (float[] row : rows) {
                for (int j = 0; j < width; j++) {
                    mean[j] += row[j] / (double) n;
                }
            }
        }
        for (float[][] rows : perTask) {
            for (float[] row : rows) {
                for (int j = 0; j < width; j++) {
                    sd[j] += (row[j] - mean[j]) * (row[j] - mean[j]) / n;
                }
            }
        }
        for (int j = 0; j < width; j++) {
            sd[j] = sd[j] > 1e-12 ? Math.sqrt(sd[j]) : 1;
        }
        float[][] x = new float[n][width];
        int[] y = new int[n];
        int i = 0;
        for (int t = 0; t < experts; t++) {
            for (float[] row : perTask.get(t)) {
                for (int j = 0; j < width; j++) {
                    x[i][j] = (float) ((row[j] - mean[j]) / sd[j]);
                }
                y[i++] = t;
            }
        }
        Head fitted = HeadFit.fit(Head.linear(new float[experts * width], new float[experts], experts, width), x, y,
                ridge, ITERATIONS);
        float[] weight = new float[width * experts];
        float[] bias = fitted.bias().clone();
        for (int t = 0; t < experts; t++) {
            double shift = 0;
            for (int j = 0; j < width; j++) {
                double w = fitted.weights()[t * width + j] / sd[j];
                weight[j * experts + t] = (float) w;
                shift += w * mean[j];
            }
            bias[t] -= (float) shift;
        }
        return new Router.Posterior(weight, bias, width, experts, false, 0, scale);
    }

    /** A prototype router on {@code perTask}. */
    static Router.Posterior prototypes(List<float[][]> perTask, double scale) {
        int experts = perTask.size();
        int width = perTask.get(0)[0].length;
        double[][] prototype = new double[experts][width];
        for (int t = 0; t < experts; t++) {
            for (float[] row : perTask.get(t)) {
                double norm = norm(row);
                for (int j = 0; j < width; j++) {
                    prototype[t][j] += row[j] / norm;
                }
            }
            double norm = 0;
            for (double v : prototype[t]) {
                norm += v * v;
            }
            norm = Math.max(Math.sqrt(norm), 1e-12);
            for (int j = 0; j < width; j++) {
                prototype[t][j] /= norm;
            }
        }
        double best = SHARPNESS[0];
        double bestLikelihood = Double.NEGATIVE_INFINITY;
        for (double k : SHARPNESS) {
            double likelihood = 0;
            for (int t = 0; t < experts; t++) {
                for (float[] row : perTask.get(t)) {
                    double[] logits = new double[experts];
                    double norm = norm(row);
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s < experts; s++) {
                        for (int j = 0; j < width; j++) {
                            logits[s] += k * row[j] / norm * prototype[s][j];
                        }
                        max = Math.max(max, logits[s]);
                    }
                    double sum = 0;
                    for (double l : logits) {
                        sum += Math.exp(l - max);
                    }
                    likelihood += logits[t] - max - Math.log(sum);
                }
            }
            if (likelihood > bestLikelihood) {
                bestLikelihood = likelihood;
                best = k;
            }
        }
        float[] weight = new float[width * experts];
        for (int t = 0; t < experts; t++) {
            for (int j = 0; j < width; j++) {
                weight[j * experts + t] = (float) (best * prototype[t][j]);
            }
        }
        return new Router.Posterior(weight, new float[experts], width, experts, true, 0, scale);
    }

    private static double norm(float[] row) {
        double s = 0;
        for (float v : row) {
            s += (double) v * v;
        }
        return Math.max(Math.sqrt(s), 1e-12);
    }
}
