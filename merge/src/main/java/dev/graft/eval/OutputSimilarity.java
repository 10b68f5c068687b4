package dev.graft.eval;

import dev.graft.IncompatibleModelsException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * How close a model's outputs are to a reference model's on the same inputs — random probe inputs
 * ({@link Verifier}) or real samples ({@link Calibration}): the cosine similarity of each output's values
 * flattened (over all samples), averaged over the outputs (1 is identical up to scale).
 */
public final class OutputSimilarity implements Evaluator {
    private final Function<Path, Map<String, double[]>> outputs;
    private final Map<String, double[]> reference;

    /** On the probe inputs that {@code probes} describe. */
    public OutputSimilarity(Path referenceModel, ProbeOptions probes) {
        this(referenceModel, new Verifier(probes)::outputs);
    }

    /** On the samples of {@code data}. */
    public OutputSimilarity(Path referenceModel, Calibration data) {
        this(referenceModel, model -> outputs(model, data));
    }

    private OutputSimilarity(Path referenceModel, Function<Path, Map<String, double[]>> outputs) {
        this.outputs = outputs;
        this.reference = outputs.apply(referenceModel);
    }

    @Override
    public String name() {
        return "output cosine similarity";
    }

    @Override
    public boolean higherIsBetter() {
        return true;
    }

    @Override
    public double evaluate(Path model) {
        Map<String, double[]> ours = outputs.apply(model);
        double total = 0;
        for (Map.Entry<String, double[]> e : reference.entrySet()) {
            double[] a = ours.get(e.getKey());
            if (a == null || a.length != e.getValue().length) {
                throw new IncompatibleModelsException(model, e.getKey(), "this output differs in shape from the "
                        + "reference model's");
            }
            total += cosine(a, e.getValue());
        }
        return total / reference.size();
    }

    /** Each output's values over all batches, concatenated. */
    private static Map<String, double[]> outputs(Path model, Calibration data) {
        Map<String, List<float[]>> parts = new LinkedHashMap<>();
        try (Activations runs = Activations.of(model, Set.of())) {
            runs.run(data, batch -> batch.outputs().get(0).forEach((name, o) ->
                    parts.computeIfAbsent(name, k -> new ArrayList<>()).add(o.values())), ProgressListener.NONE,
                    "similarity");
        }
        Map<String, double[]> out = new LinkedHashMap<>();
        parts.forEach((name, list) -> {
            double[] joined = new double[list.stream().mapToInt(p -> p.length).sum()];
            int at = 0;
            for (float[] p : list) {
                for (float v : p) {
                    joined[at++] = v;
                }
            }
            out.put(name, joined);
        });
        return out;
    }

    private static double cosine(double[] a, double[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.sqrt(na * nb);
    }
}
