package dev.graft.moe;

import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.exec.Threads;
import dev.graft.graph.ExpertRouting;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * How often a routed model's routers pick each sample's own task: the model runs on each expert's task samples
 * with every router's coefficients exposed ({@code /graft_moe/GROUP/r}), and a sample counts when its largest
 * coefficient is its task's. Measured on the written graph, so it covers every router form; on samples held out
 * from the routers' fit it is the routing accuracy the out-of-distribution case asks for.
 */
public final class RoutingAccuracy {
    private RoutingAccuracy() {
    }

    /**
     * Per router group (by name), the share of {@code perExpert}'s samples (expert {@code t}'s task samples at
     * {@code t}) routed to their own expert by {@code model}.
     *
     * @throws InvalidSettingException if the model has no routers, or not one coefficient per expert
     */
    public static Map<String, Double> of(Path model, List<Calibration> perExpert) {
        Map<String, String> byGroup;
        Path exposed;
        try (TemporaryFolder folder = TemporaryFolder.create("graft-routing")) {
            try (OnnxModel m = OnnxModel.open(model)) {
                byGroup = ExpertRouting.find(m).routers();
                if (byGroup.isEmpty()) {
                    throw new InvalidSettingException(model + " has no routers (values /graft_moe/GROUP/r)");
                }
                exposed = ExposedValues.write(m, byGroup.values(), folder.resolve("routers.onnx"));
            }
            Set<String> routers = new LinkedHashSet<>(byGroup.values());
            Map<String, long[]> counts = new LinkedHashMap<>();
            routers.forEach(r -> counts.put(r, new long[2]));
            try (ModelRunner runner = new ModelRunner(exposed, model, Threads.modelRuns(), true, Map.of())) {
                for (int t = 0; t < perExpert.size(); t++) {
                    for (Map<String, ModelRunner.Input> batch : perExpert.get(t).batches()) {
                        Map<String, ModelRunner.Output> out = runner.run(batch, routers);
                        for (String r : routers) {
                            count(out.get(r), t, perExpert.size(), counts.get(r), model, r);
                        }
                    }
                }
            }
            Map<String, Double> accuracy = new LinkedHashMap<>();
            byGroup.forEach((group, r) -> accuracy.put(group, counts.get(r)[0]
                    / (double) Math.max(1, counts.get(r)[1])));
            return accuracy;
        }
    }

    private static void count(ModelRunner.Output o, int task, int experts, long[] counts, Path model, String r) {
        long[] shape = o.shape();
        if (shape.length != 2 || shape[1] != experts) {
            throw new InvalidSettingException(model + ": router " + r + " gives " + java.util.Arrays.toString(shape)
                    + " coefficients but there are " + experts + " task sample sets");
        }
        float[] v = o.values();
        for (int b = 0; b < shape[0]; b++) {
            int best = 0;
            for (int e = 1; e < experts; e++) {
                if (v[b * experts + e] > v[b * experts + best]) {
                    best = e;
                }
            }
            counts[0] += best == task ? 1 : 0;
            counts[1]++;
        }
    }
}
