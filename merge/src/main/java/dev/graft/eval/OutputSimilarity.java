package dev.graft.eval;

import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.Map;

/**
 * How close a model's outputs are to a reference model's on the same probe inputs ({@link Verifier}): the
 * cosine similarity of each output's values flattened, averaged over the outputs (1 is identical up to scale).
 */
public final class OutputSimilarity implements Evaluator {
    private final Verifier verifier;
    private final Map<String, double[]> reference;

    public OutputSimilarity(Path referenceModel, ProbeOptions probes) {
        this.verifier = new Verifier(probes);
        this.reference = verifier.outputs(referenceModel);
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
        Map<String, double[]> ours = verifier.outputs(model);
        double total = 0;
        for (Map.Entry<String, double[]> e : reference.entrySet()) {
            double[] a = ours.get(e.getKey());
            if (a == null || a.length != e.getValue().length) {
                throw new IllegalArgumentException(model + ": output '" + e.getKey() + "' differs in shape from the "
                        + "reference's");
            }
            total += cosine(a, e.getValue());
        }
        return total / reference.size();
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
