package dev.graft.pleas;

import dev.graft.GraftException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The values of a PLeaS merge's layer tensors, made when the writer first asks for one of a layer's tensors. A
 * fitted layer is fitted by {@link LeastSquares} in one pass over the calibration data together with the next
 * fitted layers not yet made, as many as {@code budgetBytes} holds ({@link LeastSquares#bytes}; at least one);
 * the pass's layers are solved, turned into their tensors' values and their sums dropped. A layer that is not
 * fitted gets its {@link MergedLayer#prior prior}. Values are forgotten once handed out, so what is held at once
 * is one pass's sums and the tensors not yet written: bounded by the budget, not by the model's depth. Each pass
 * runs both models again, exposing only its layers' inputs and outputs.
 */
final class LayerFits {
    private final OnnxModel ma;
    private final OnnxModel mb;
    private final List<MergedLayer> layers;
    private final Calibration data;
    private final double ridge;
    private final long budgetBytes;
    private final ProgressListener progress;
    private final Map<String, float[]> ready = new HashMap<>();
    private final Map<MergedLayer, Pleas.LayerReport> reports = new HashMap<>();
    private int passes;

    LayerFits(OnnxModel ma, OnnxModel mb, List<MergedLayer> layers, Calibration data, double ridge,
              long budgetBytes, ProgressListener progress) {
        this.ma = ma;
        this.mb = mb;
        this.layers = List.copyOf(layers);
        this.data = data;
        this.ridge = ridge;
        this.budgetBytes = budgetBytes;
        this.progress = progress;
    }

    /** The values of {@code layer}'s tensor {@code name}, made now if not yet; each is handed out once. */
    synchronized float[] values(MergedLayer layer, String name) {
        if (!ready.containsKey(name)) {
            if (reports.containsKey(layer)) {
                throw new IllegalStateException("tensor '" + name + "' was already written");
            }
            if (layer.fitted()) {
                fit(nextPass(layer));
            } else {
                double[] prior = layer.prior(ma, mb);
                ready.putAll(layer.values(prior));
                report(layer, new Pleas.LayerReport(layer.a().weight(), layer.inputs(), layer.outputs(), false,
                        Double.NaN));
            }
        }
        return ready.remove(name);
    }

    /** Each layer's report, in the layers' order, once all were made. */
    List<Pleas.LayerReport> reports() {
        return layers.stream().map(reports::get).toList();
    }

    /** Passes over the data made so far. */
    int passes() {
        return passes;
    }

    /** {@code first} and the fitted layers after it not yet made, within the budget. */
    private List<MergedLayer> nextPass(MergedLayer first) {
        List<MergedLayer> pass = new ArrayList<>(List.of(first));
        long held = LeastSquares.bytes(first.inputs(), first.outputs());
        for (int i = layers.indexOf(first) + 1; i < layers.size(); i++) {
            MergedLayer l = layers.get(i);
            if (!l.fitted() || reports.containsKey(l)) {
                continue;
            }
            long bytes = LeastSquares.bytes(l.inputs(), l.outputs());
            if (held + bytes > budgetBytes) {
                break;
            }
            pass.add(l);
            held += bytes;
        }
        return pass;
    }

    /** One pass over the data fitting {@code pass}, then its solutions turned into values. */
    private void fit(List<MergedLayer> pass) {
        passes++;
        Set<String> valuesA = new LinkedHashSet<>();
        Set<String> valuesB = new LinkedHashSet<>();
        for (MergedLayer l : pass) {
            valuesA.add(l.a().input());
            valuesA.add(l.a().output());
            valuesB.add(l.b().input());
            valuesB.add(l.b().output());
        }
        Map<MergedLayer, LeastSquares> systems = new ConcurrentHashMap<>();
        pass.parallelStream().forEach(l -> systems.put(l,
                new LeastSquares(l.inputs(), l.outputs(), l.a().hasBias(), l.prior(ma, mb))));
        try (Activations runs = Activations.of(List.of(ma.file(), mb.file()), List.of(valuesA, valuesB));
             MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
            runs.run(data, batch -> {
                for (MergedLayer l : pass) {
                    float[] x = l.inputs(batch.output(0, l.a().input()), batch.output(1, l.b().input()));
                    float[] y = l.targets(batch.output(0, l.a().output()), batch.output(1, l.b().output()));
                    systems.get(l).add(x, y, x.length / l.inputs(), products);
                }
            }, progress, "fitting");
        }
        List<Made> made = pass.parallelStream().map(l -> {
            LeastSquares.Solution solution;
            try {
                solution = systems.remove(l).solve(ridge);
            } catch (IllegalArgumentException e) {
                throw new GraftException(ma.file(), l.a().weight(), e.getMessage(), e);
            }
            return new Made(l, l.values(solution.weights()), solution.relativeResidual());
        }).toList();
        for (Made m : made) {
            ready.putAll(m.values());
            report(m.layer(), new Pleas.LayerReport(m.layer().a().weight(), m.layer().inputs(), m.layer().outputs(),
                    true, m.residual()));
        }
    }

    /** A solved layer's tensor values and relative residual. */
    private record Made(MergedLayer layer, Map<String, float[]> values, double residual) {
    }

    private void report(MergedLayer l, Pleas.LayerReport r) {
        reports.put(l, r);
        progress.written("solving", reports.size(), layers.size());
    }
}
