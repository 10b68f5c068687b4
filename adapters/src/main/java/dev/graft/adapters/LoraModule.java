package dev.graft.adapters;

/**
 * One module's LoRA update (Hu et al., ICLR 2022): {@code ΔW = s·B·A} with {@code A [rank, in]} and
 * {@code B [out, rank]} row-major, in the orientation of a linear layer {@code y = x·Wᵀ} (weight
 * {@code [out, in]}); {@code s} is the scale, folded in once by {@link #delta()}.
 */
public record LoraModule(String name, int rank, int in, int out, float[] a, float[] b, double scale) {
    public LoraModule {
        if (a.length != (long) rank * in || b.length != (long) out * rank) {
            throw new IllegalArgumentException("LoRA module '" + name + "': A has " + a.length + " values for [" + rank
                    + ", " + in + "], B " + b.length + " for [" + out + ", " + rank + "]");
        }
    }

    /** {@code s·B·A}, {@code [out, in]} row-major. */
    public float[] delta() {
        float[] d = new float[out * in];
        double[] row = new double[in];
        for (int o = 0; o < out; o++) {
            java.util.Arrays.fill(row, 0);
            for (int k = 0; k < rank; k++) {
                double bk = b[o * rank + k];
                for (int i = 0; i < in; i++) {
                    row[i] += bk * a[k * in + i];
                }
            }
            for (int i = 0; i < in; i++) {
                d[o * in + i] = (float) (scale * row[i]);
            }
        }
        return d;
    }
}
