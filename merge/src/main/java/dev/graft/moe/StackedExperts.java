package dev.graft.moe;

import dev.graft.exec.TensorJob;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.ExpertMlps;
import dev.graft.onnx.OutputTensor;
import dev.graft.plan.MergePlan;
import dev.graft.tensor.ElementType;
import java.util.ArrayList;
import java.util.List;

/**
 * An MLP's experts stacked as {@code com.microsoft.MoE} reads them: {@code fc1} {@code [E, inner, width]} and
 * {@code fc2} {@code [E, width, inner]} in nn.Linear layout ({@code [out, in]}), biases {@code [E, out]} (zeros for
 * a layer without one, absent if no layer has one). For SwiGLU, {@code fc1} holds the gate and up projections with
 * their rows interleaved (gate row {@code i} at {@code 2i}, up row {@code i} at {@code 2i + 1}), as the CPU kernel
 * reads them ({@code swiglu_fusion=1}).
 */
final class StackedExperts {
    private final MergePlan pairs;
    private final ExpertMlps.Block block;
    private final int experts;
    private final String scope;

    StackedExperts(MergePlan pairs, ExpertMlps.Block block, int experts, String scope) {
        this.pairs = pairs;
        this.block = block;
        this.experts = experts;
        this.scope = scope;
    }

    String fc1() {
        return scope + "/fc1_experts";
    }

    String fc2() {
        return scope + "/fc2_experts";
    }

    String fc1Bias() {
        return firstLayers().stream().anyMatch(l -> l.bias() != null) ? scope + "/fc1_experts_bias" : null;
    }

    String fc2Bias() {
        return last().bias() != null ? scope + "/fc2_experts_bias" : null;
    }

    /** The jobs that write the stacked tensors. */
    List<TensorJob> jobs() {
        List<AffineLayer> first = firstLayers();
        AffineLayer down = last();
        int width = down.out();
        int inner = down.in();
        int rows = inner * first.size();
        List<TensorJob> jobs = new ArrayList<>();
        jobs.add(job(fc1(), new long[] {experts, rows, width}, () -> {
            float[] out = new float[experts * rows * width];
            for (int e = 0; e < experts; e++) {
                for (int p = 0; p < first.size(); p++) {
                    AffineLayer l = first.get(p);
                    float[] w = weight(l.weight(), e);
                    for (int o = 0; o < inner; o++) {
                        int row = o * first.size() + p;
                        for (int i = 0; i < width; i++) {
                            out[(e * rows + row) * width + i] = w[index(l, i, o)];
                        }
                    }
                }
            }
            return out;
        }));
        jobs.add(job(fc2(), new long[] {experts, width, inner}, () -> {
            float[] out = new float[experts * width * inner];
            for (int e = 0; e < experts; e++) {
                float[] w = weight(down.weight(), e);
                for (int o = 0; o < width; o++) {
                    for (int i = 0; i < inner; i++) {
                        out[(e * width + o) * inner + i] = w[index(down, i, o)];
                    }
                }
            }
            return out;
        }));
        if (fc1Bias() != null) {
            jobs.add(job(fc1Bias(), new long[] {experts, rows}, () -> {
                float[] out = new float[experts * rows];
                for (int e = 0; e < experts; e++) {
                    for (int p = 0; p < first.size(); p++) {
                        if (first.get(p).bias() == null) {
                            continue;
                        }
                        float[] b = weight(first.get(p).bias(), e);
                        for (int o = 0; o < inner; o++) {
                            out[e * rows + o * first.size() + p] = b[o];
                        }
                    }
                }
                return out;
            }));
        }
        if (fc2Bias() != null) {
            jobs.add(job(fc2Bias(), new long[] {experts, width}, () -> {
                float[] out = new float[experts * width];
                for (int e = 0; e < experts; e++) {
                    System.arraycopy(weight(down.bias(), e), 0, out, e * width, width);
                }
                return out;
            }));
        }
        return jobs;
    }

    /** The layers reading the MLP's input: fc1, or SwiGLU's gate and up. */
    private List<AffineLayer> firstLayers() {
        return block.layers().subList(0, block.layers().size() - 1);
    }

    private AffineLayer last() {
        return block.layers().get(block.layers().size() - 1);
    }

    private float[] weight(String name, int expert) {
        return pairs.step(name).sources().get(expert + 1).toFloats();
    }

    /** Where entry {@code (in i, out o)} of layer {@code l}'s weight is in its layout. */
    private static int index(AffineLayer l, int i, int o) {
        return l.outIn() ? o * l.in() + i : i * l.out() + o;
    }

    private static TensorJob job(String name, long[] dims, OutputTensor.Values values) {
        long elements = 1;
        for (long d : dims) {
            elements *= d;
        }
        return new TensorJob(OutputTensor.of(name, ElementType.FLOAT, dims, values), 12L * elements);
    }
}
