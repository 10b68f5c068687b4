package dev.graft.align;

import dev.graft.UnsupportedModelException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.linalg.MatrixProducts;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What two models' units do on the same data, for OTFusion's activation cost and activation-mass marginals: for
 * each of the target's groups that a value of both models shows on an axis of its own (a layer's input,
 * {@link PermutationSpec#probes}), the products of the source's and the target's unit activations
 * ({@link UnitProducts}) and each unit's summed absolute activation, reduced batch by batch as the models run (every
 * sample, and every real token of text), so memory does not grow with the data.
 *
 * @param products the products, by the target's group index
 * @param massFrom the source's units' summed absolute activations, by the target's group index
 * @param massTo   the target's units' summed absolute activations, by its group index
 */
record UnitActivations(Map<Integer, UnitProducts> products, Map<Integer, double[]> massFrom,
                       Map<Integer, double[]> massTo) {

    /** A group's probe and the axis of the probe's value that holds the group. */
    private record Observed(String value, int axis) {
    }

    /**
     * Runs both models on {@code data}.
     *
     * @throws UnsupportedModelException naming the target and a weight if a group's values hold different numbers of
     *     positions in the two models
     */
    static UnitActivations of(Path source, PermutationSpec sourceSpec, Path target, PermutationSpec targetSpec,
                              Map<String, Integer> groupOf, Calibration data, MatrixProducts products) {
        Map<Integer, Observed> inSource = observed(sourceSpec);
        Map<Integer, Observed> inTarget = observed(targetSpec);
        Map<Integer, Observed[]> pairs = new HashMap<>();
        for (Map.Entry<Integer, Observed> t : inTarget.entrySet()) {
            Observed s = inSource.get(groupOf.get(targetSpec.groups().get(t.getKey()).name()));
            if (s != null) {
                pairs.put(t.getKey(), new Observed[] {s, t.getValue()});
            }
        }
        Set<String> sourceValues = new LinkedHashSet<>();
        Set<String> targetValues = new LinkedHashSet<>();
        pairs.values().forEach(p -> {
            sourceValues.add(p[0].value());
            targetValues.add(p[1].value());
        });
        UnitActivations out = new UnitActivations(new HashMap<>(), new HashMap<>(), new HashMap<>());
        try (Activations runs = Activations.of(List.of(source, target), List.of(sourceValues, targetValues))) {
            runs.run(data, batch -> pairs.forEach((g, p) -> {
                var xs = batch.output(0, p[0].value());
                var ys = batch.output(1, p[1].value());
                float[] x = byUnit(xs.values(), xs.shape(), p[0].axis());
                float[] y = byUnit(ys.values(), ys.shape(), p[1].axis());
                int ns = (int) xs.shape()[p[0].axis()];
                int nt = (int) ys.shape()[p[1].axis()];
                if (x.length / ns != y.length / nt) {
                    throw new UnsupportedModelException(target, targetSpec.groups().get(g).members().get(0).weight(),
                            "is in group " + targetSpec.groups().get(g).name() + ", whose values hold " + y.length / nt
                                    + " positions per unit here and " + x.length / ns + " in " + source
                                    + "; activations pair positions, so fuse these with the weight cost");
                }
                out.products.computeIfAbsent(g, k -> new UnitProducts(ns, nt)).add(x, y, x.length / ns, products);
                addAbsolute(out.massFrom.computeIfAbsent(g, k -> new double[ns]), x);
                addAbsolute(out.massTo.computeIfAbsent(g, k -> new double[nt]), y);
            }), ProgressListener.NONE, "ot-activations");
        }
        return out;
    }

    /** For each group of {@code spec} a value shows on an axis of its own, the first such value and axis. */
    private static Map<Integer, Observed> observed(PermutationSpec spec) {
        Map<Integer, Observed> out = new HashMap<>();
        for (PermutationSpec.Probe p : spec.probes()) {
            for (int axis = 0; axis < p.axes().size(); axis++) {
                List<PermutationSpec.Factor> f = p.axes().get(axis);
                if (f.size() == 1 && f.get(0).group() >= 0) {
                    out.putIfAbsent(f.get(0).group(), new Observed(p.value(), axis));
                }
            }
        }
        return out;
    }

    /** {@code values} of {@code shape} as one row per unit of axis {@code axis}, every other position along it. */
    private static float[] byUnit(float[] values, long[] shape, int axis) {
        int units = (int) shape[axis];
        int outer = UnitMaps.product(shape, 0, axis);
        int inner = UnitMaps.product(shape, axis + 1, shape.length);
        int per = outer * inner;
        float[] out = new float[values.length];
        for (int a = 0; a < outer; a++) {
            for (int u = 0; u < units; u++) {
                System.arraycopy(values, (a * units + u) * inner, out, u * per + a * inner, inner);
            }
        }
        return out;
    }

    private static void addAbsolute(double[] sums, float[] rows) {
        int per = rows.length / sums.length;
        for (int u = 0; u < sums.length; u++) {
            double s = 0;
            for (int k = 0; k < per; k++) {
                s += Math.abs(rows[u * per + k]);
            }
            sums[u] += s;
        }
    }
}
