package dev.graft.moe;

import dev.graft.graph.ExpertRouting;
import dev.graft.onnx.OutputTensor;
import dev.graft.tensor.ElementType;
import java.util.ArrayList;
import java.util.List;

/**
 * A router of a routed merge: one coefficient per expert for each sample, computed from the input of the layers it
 * routes ({@code [batch, width]}, or {@code [batch, positions, width]} pooled per sample over its real tokens).
 * Weights are stored {@code [in, out]}, row-major. Built only inside this package, from checked inputs (a wrong
 * length is Graft's bug, an {@link IllegalArgumentException}).
 */
sealed interface Router permits Router.Posterior, Router.Mlp {
    /** The width of the input the router reads. */
    int width();

    /** The number of experts (coefficients per sample). */
    int experts();

    /** Adds the router's nodes, named under {@code scope}, reading {@code input} (of rank {@code rank}); returns r. */
    String addTo(ExpertRouting routing, String scope, String input, int rank);

    /** The initializers the router's nodes read, named under {@code scope}. */
    List<OutputTensor> tensors(String scope);

    /**
     * A classifier of the pooled input: {@code r = scale·softmax(p·W + b)}, {@code p} the mean over real tokens
     * (L2-normalized if {@code normalized}); {@code W} is {@code [width, experts]}. Fitted routers and prototype
     * routers have this form: each sample's coefficients are its task posteriors, times {@code scale}; with a
     * {@code confidence} in (0, 1] (0: none), a sample whose largest posterior reaches it gets its task alone.
     */
    record Posterior(float[] weight, float[] bias, int width, int experts, boolean normalized, double confidence,
                     double scale) implements Router {
        public Posterior {
            check(weight, (long) width * experts, "weight");
            check(bias, experts, "bias");
        }

        /** The same router, giving a sample its most probable task alone from posterior {@code confidence}. */
        public Posterior withConfidence(double confidence) {
            return new Posterior(weight, bias, width, experts, normalized, confidence, scale);
        }

        @Override
        public String addTo(ExpertRouting routing, String scope, String input, int rank) {
            return routing.addPosteriorRouter(scope, input, rank, normalized, scope + "/weight", scope + "/bias",
                    (float) confidence, (float) scale);
        }

        @Override
        public List<OutputTensor> tensors(String scope) {
            return List.of(tensor(scope + "/weight", weight, width, experts), tensor(scope + "/bias", bias, experts));
        }
    }

    /**
     * WEMoE's router: {@code r = mean over tokens of fc2(ReLU(fc1(h)))}, no softmax; without {@code fc1}
     * ({@code hidden} 0) it is linear, {@code r = mean of fc2(h)}. {@code fc1} is {@code [width, hidden]},
     * {@code fc2} {@code [hidden or width, experts]}.
     */
    record Mlp(float[] fc1, float[] fc1Bias, int hidden, float[] fc2, float[] fc2Bias, int width, int experts)
            implements Router {
        public Mlp {
            if (hidden > 0) {
                check(fc1, (long) width * hidden, "fc1 weight");
                check(fc1Bias, hidden, "fc1 bias");
            }
            check(fc2, (long) (hidden > 0 ? hidden : width) * experts, "fc2 weight");
            check(fc2Bias, experts, "fc2 bias");
        }

        @Override
        public String addTo(ExpertRouting routing, String scope, String input, int rank) {
            return routing.addMlpRouter(scope, input, rank, hidden > 0 ? scope + "/fc1.weight" : null,
                    scope + "/fc1.bias", scope + "/fc2.weight", scope + "/fc2.bias");
        }

        @Override
        public List<OutputTensor> tensors(String scope) {
            List<OutputTensor> out = new ArrayList<>();
            if (hidden > 0) {
                out.add(tensor(scope + "/fc1.weight", fc1, width, hidden));
                out.add(tensor(scope + "/fc1.bias", fc1Bias, hidden));
            }
            out.add(tensor(scope + "/fc2.weight", fc2, hidden > 0 ? hidden : width, experts));
            out.add(tensor(scope + "/fc2.bias", fc2Bias, experts));
            return out;
        }
    }

    /**
     * The router that gives every expert {@code value} for every input: WEMoE's start ({@code fc2}'s bias λ, its
     * weights 0), with which the routed layers are task arithmetic with λ.
     */
    static Router constant(int width, int experts, double value) {
        float[] bias = new float[experts];
        java.util.Arrays.fill(bias, (float) value);
        return new Mlp(null, null, 0, new float[width * experts], bias, width, experts);
    }

    /** The router that gives expert {@code expert} 1 and the others 0, for every input. */
    static Router picking(int width, int experts, int expert) {
        float[] bias = new float[experts];
        bias[expert] = 1;
        return new Mlp(null, null, 0, new float[width * experts], bias, width, experts);
    }

    private static void check(float[] values, long length, String what) {
        if (values == null || values.length != length) {
            throw new IllegalArgumentException("a router's " + what + " needs " + length + " values, got "
                    + (values == null ? "none" : values.length));
        }
    }

    private static OutputTensor tensor(String name, float[] values, long... dims) {
        return OutputTensor.of(name, ElementType.FLOAT, dims, values::clone);
    }
}
