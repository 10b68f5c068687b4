package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.ModelScan;
import dev.graft.plan.TensorInputs;
import java.util.HashMap;
import java.util.Map;

/**
 * Top-k over a whole model (the TIES paper's and FusionBench's option): each model keeps its
 * {@code k = ⌊density·N⌋} largest-magnitude task-vector entries among all {@code N} entries of all merged
 * tensors, instead of {@code ⌊density·n⌋} per tensor. Two histogram passes over the model find each model's
 * magnitude cut; entries equal to the cut are taken in model order, then index order (a third pass counts
 * them per tensor only when the cut splits them). {@code density} must be the same for every tensor.
 */
final class ModelWideTopK {
    private final Map<String, MagnitudeRank.Cut[]> cuts;

    private ModelWideTopK(Map<String, MagnitudeRank.Cut[]> cuts) {
        this.cuts = cuts;
    }

    /** The cut for model {@code i} within {@code tensor}. */
    MagnitudeRank.Cut cut(String tensor, int i) {
        return cuts.get(tensor)[i];
    }

    static ModelWideTopK compute(ModelScan scan) {
        long[][] high = new long[16][];
        long[] total = new long[1];
        double[][] density = new double[1][];
        scan.forEachTensor(in -> {
            int m = in.modelCount();
            if (density[0] == null) {
                density[0] = new double[m];
                for (int i = 0; i < m; i++) {
                    density[0][i] = in.model(i, "density");
                    high[i] = new long[1 << 15];
                }
            }
            total[0] += in.size();
            for (int i = 0; i < m; i++) {
                if (in.model(i, "density") != density[0][i]) {
                    throw new InvalidSettingException("global_topk needs one density per model, but model " + i
                            + " has " + in.model(i, "density") + " for '" + in.tensor() + "' and " + density[0][i]
                            + " elsewhere");
                }
                float[] d = delta(in, i);
                for (float x : d) {
                    high[i][(Float.floatToRawIntBits(x) & 0x7fffffff) >>> 16]++;
                }
            }
        });
        if (density[0] == null) {
            return new ModelWideTopK(Map.of());
        }
        int m = density[0].length;
        long[] need = new long[m];
        int[] bin = new int[m];
        long[] k = new long[m];
        for (int i = 0; i < m; i++) {
            k[i] = (long) (Math.min(1, density[0][i]) * total[0]);
            long before = 0;
            int b = high[i].length - 1;
            while (b > 0 && before + high[i][b] < k[i]) {
                before += high[i][b];
                b--;
            }
            bin[i] = b;
            need[i] = k[i] - before;
        }
        long[][] low = new long[m][1 << 16];
        scan.forEachTensor(in -> {
            for (int i = 0; i < m; i++) {
                for (float x : delta(in, i)) {
                    int b = Float.floatToRawIntBits(x) & 0x7fffffff;
                    if (b >>> 16 == bin[i]) {
                        low[i][b & 0xffff]++;
                    }
                }
            }
        });
        int[] bits = new int[m];
        long[] take = new long[m];
        long[] equal = new long[m];
        for (int i = 0; i < m; i++) {
            if (k[i] <= 0) {
                bits[i] = Integer.MAX_VALUE; // keep nothing
                continue;
            }
            if (k[i] >= total[0]) {
                bits[i] = -1; // keep everything
                continue;
            }
            long before = 0;
            int l = low[i].length - 1;
            while (l > 0 && before + low[i][l] < need[i]) {
                before += low[i][l];
                l--;
            }
            bits[i] = (bin[i] << 16) | l;
            take[i] = need[i] - before;
            equal[i] = low[i][l];
        }
        Map<String, MagnitudeRank.Cut[]> cuts = new HashMap<>();
        long[] remaining = take.clone();
        scan.forEachTensor(in -> {
            MagnitudeRank.Cut[] c = new MagnitudeRank.Cut[m];
            for (int i = 0; i < m; i++) {
                if (bits[i] == Integer.MAX_VALUE || bits[i] < 0) {
                    c[i] = new MagnitudeRank.Cut(bits[i], 0, 0);
                    continue;
                }
                int here = 0;
                for (float x : delta(in, i)) {
                    here += (Float.floatToRawIntBits(x) & 0x7fffffff) == bits[i] ? 1 : 0;
                }
                int taken = (int) Math.min(remaining[i], here);
                remaining[i] -= taken;
                c[i] = new MagnitudeRank.Cut(bits[i], taken, here);
            }
            cuts.put(in.tensor(), c);
        });
        return new ModelWideTopK(cuts);
    }

    /** Model {@code i}'s task vector for this tensor (the inputs are fresh copies, so in place). */
    private static float[] delta(TensorInputs in, int i) {
        float[] x = in.models()[i];
        float[] b = in.base();
        float[] d = new float[x.length];
        for (int j = 0; j < d.length; j++) {
            d[j] = x[j] - b[j];
        }
        return d;
    }
}
