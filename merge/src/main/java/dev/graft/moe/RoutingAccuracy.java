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
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a routed model's routers do with samples, measured on the written graph (so every router form is covered):
 * the model runs with every router's coefficients exposed ({@code /graft_moe/GROUP/r}). {@link #of} is the share of
 * each task's samples whose largest coefficient is their own expert's (on samples held out from the routers' fit:
 * the routing accuracy); {@link #confident} the share whose largest coefficient reaches a threshold (with a
 * confidence switch, the samples that take one expert alone: on inputs of a task no expert was fitted for, the
 * out-of-distribution case, these should be few).
 */
public final class RoutingAccuracy {
    private RoutingAccuracy() {
    }

    /** One sample's coefficients from one router. */
    private interface Sink {
        void accept(String router, int set, float[] coefficients);
    }

    /**
     * Per router group (by name), the share of {@code perExpert}'s samples (expert {@code t}'s task samples at
     * {@code t}) routed to their own expert by {@code model}.
     *
     * @throws InvalidSettingException if the model has no routers, or not one coefficient per expert
     */
    public static Map<String, Double> of(Path model, List<Calibration> perExpert) {
        Map<String, long[]> counts = new LinkedHashMap<>();
        Map<String, String> groups = run(model, perExpert, (router, set, c) -> {
            if (c.length != perExpert.size()) {
                throw new InvalidSettingException(model + ": router " + router + " gives " + c.length
                        + " coefficients but there are " + perExpert.size() + " task sample sets");
            }
            long[] n = counts.computeIfAbsent(router, k -> new long[2]);
            n[0] += largest(c) == set ? 1 : 0;
            n[1]++;
        });
        return shares(groups, counts);
    }

    /**
     * Per router group (by name), the share of {@code samples} whose largest coefficient from {@code model}'s router
     * reaches {@code threshold}.
     *
     * @throws InvalidSettingException if the model has no routers
     */
    public static Map<String, Double> confident(Path model, Calibration samples, double threshold) {
        Map<String, long[]> counts = new LinkedHashMap<>();
        Map<String, String> groups = run(model, List.of(samples), (router, set, c) -> {
            long[] n = counts.computeIfAbsent(router, k -> new long[2]);
            n[0] += c[largest(c)] >= threshold ? 1 : 0;
            n[1]++;
        });
        return shares(groups, counts);
    }

    /** Runs {@code model} on every set of samples, handing each router's coefficients per sample to {@code sink}. */
    private static Map<String, String> run(Path model, List<Calibration> sets, Sink sink) {
        try (TemporaryFolder folder = TemporaryFolder.create("graft-routing")) {
            Map<String, String> groups;
            Path exposed;
            try (OnnxModel m = OnnxModel.open(model)) {
                groups = ExpertRouting.find(m).routers();
                if (groups.isEmpty()) {
                    throw new InvalidSettingException(model + " has no routers (values /graft_moe/GROUP/r)");
                }
                exposed = ExposedValues.write(m, groups.values(), folder.resolve("routers.onnx"));
            }
            Set<String> routers = new LinkedHashSet<>(groups.values());
            try (ModelRunner runner = new ModelRunner(exposed, model, Threads.modelRuns(), true, Map.of())) {
                for (int set = 0; set < sets.size(); set++) {
                    for (Map<String, ModelRunner.Input> batch : sets.get(set).batches()) {
                        Map<String, ModelRunner.Output> out = runner.run(batch, routers);
                        for (String r : routers) {
                            long[] shape = out.get(r).shape();
                            int width = (int) shape[shape.length - 1];
                            float[] v = out.get(r).values();
                            for (int b = 0; b < v.length / width; b++) {
                                sink.accept(r, set, Arrays.copyOfRange(v, b * width, (b + 1) * width));
                            }
                        }
                    }
                }
            }
            return groups;
        }
    }

    private static int largest(float[] c) {
        int best = 0;
        for (int e = 1; e < c.length; e++) {
            if (c[e] > c[best]) {
                best = e;
            }
        }
        return best;
    }

    private static Map<String, Double> shares(Map<String, String> groups, Map<String, long[]> counts) {
        Map<String, Double> out = new LinkedHashMap<>();
        groups.forEach((group, r) -> {
            long[] n = counts.getOrDefault(r, new long[2]);
            out.put(group, n[0] / (double) Math.max(1, n[1]));
        });
        return out;
    }
}
