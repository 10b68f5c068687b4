package dev.graft.pleas;

import dev.graft.GraftException;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ForkJoinPool;
import java.util.function.Function;

/**
 * The values of a PLeaS merge's layer tensors, made when the writer first asks for one of a layer's tensors. A
 * fitted layer is fitted by {@link LeastSquares} in one pass over the calibration data together with the next
 * fitted layers not yet made, as many as {@code budgetBytes} holds ({@link LeastSquares#heldBytes} each, and
 * {@link LeastSquares#workingBytes} for each worker thread; at least one layer);
 * the pass's layers are solved, turned into their tensors' values and their sums dropped. A layer that is not
 * fitted gets its {@link MergedLayer#prior prior}. Values are forgotten once handed out, so what is held at once
 * is one pass's sums and the tensors not yet written: bounded by the budget, not by the model's depth. Each pass
 * runs both models again, in one pair of sessions that every pass shares (opened at the first pass with every
 * fitted layer's values exposed; each pass fetches only its own layers').
 */
final class LayerFits implements AutoCloseable {
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
    private Activations runs; // both models, every fitted layer's values exposed: opened at the first pass

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

    /**
     * {@code first} and the fitted layers after it not yet made, while the pass's sums and the working memory of
     * as many systems as there are worker threads (the largest) fit in the budget.
     */
    private List<MergedLayer> nextPass(MergedLayer first) {
        List<MergedLayer> pass = new ArrayList<>(List.of(first));
        long held = LeastSquares.heldBytes(first.inputs(), first.outputs());
        long working = LeastSquares.workingBytes(first.inputs(), first.outputs());
        int threads = Threads.workers();
        for (int i = layers.indexOf(first) + 1; i < layers.size(); i++) {
            MergedLayer l = layers.get(i);
            if (!l.fitted() || reports.containsKey(l)) {
                continue;
            }
            long h = held + LeastSquares.heldBytes(l.inputs(), l.outputs());
            long w = Math.max(working, LeastSquares.workingBytes(l.inputs(), l.outputs()));
            if (h + threads * w > budgetBytes) {
                break;
            }
            pass.add(l);
            held = h;
            working = w;
        }
        return pass;
    }

    /** One pass over the data fitting {@code pass}, then its solutions turned into values. */
    private void fit(List<MergedLayer> pass) {
        passes++;
        if (runs == null) {
            runs = Activations.of(List.of(ma.file(), mb.file()),
                    values(layers.stream().filter(MergedLayer::fitted).toList()));
        }
        Map<MergedLayer, LeastSquares> systems = new ConcurrentHashMap<>();
        inParallel(pass, l -> systems.put(l, new LeastSquares(l.inputs(), l.outputs(), l.a().hasBias(),
                l.prior(ma, mb))));
        try (MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
            runs.run(data, values(pass), batch -> {
                for (MergedLayer l : pass) {
                    float[] x = l.inputs(batch.output(0, l.a().input()), batch.output(1, l.b().input()));
                    float[] y = l.targets(batch.output(0, l.a().output()), batch.output(1, l.b().output()));
                    systems.get(l).add(x, y, x.length / l.inputs(), products);
                }
            }, progress, "fitting");
        }
        for (Made m : solve(pass, systems)) {
            ready.putAll(m.values());
            report(m.layer(), new Pleas.LayerReport(m.layer().a().weight(), m.layer().inputs(), m.layer().outputs(),
                    true, m.residual()));
        }
        if (layers.stream().allMatch(l -> !l.fitted() || reports.containsKey(l))) {
            close(); // the last pass: the sessions are not needed while the rest is written and checked
        }
    }

    /**
     * Fits every fitted layer now, stage by stage ({@code stages}, in order), on the inputs the merged model feeds
     * it: {@code merged} is the merge written with every layer at its prior, run with the layers fitted so far in
     * place of their priors (given to ONNX Runtime in memory; float32 tensors only, others keep their prior there);
     * targets are the original models' outputs on the same batch, as in a pass on the originals' inputs. One pass
     * over the data per stage, each opening the three models again. The values are then handed out by
     * {@link #values} as the writer asks.
     */
    void fitOnMergedInputs(Path merged, List<List<MergedLayer>> stages, Map<String, OutputTensor> tensors) {
        Map<String, ModelRunner.Input> given = new LinkedHashMap<>();
        for (List<MergedLayer> stage : stages) {
            passes++;
            Map<MergedLayer, LeastSquares> systems = new ConcurrentHashMap<>();
            inParallel(stage, l -> systems.put(l, new LeastSquares(l.inputs(), l.outputs(), l.a().hasBias(),
                    l.prior(ma, mb))));
            Set<String> inputs = new LinkedHashSet<>();
            stage.forEach(l -> inputs.add(l.a().input()));
            try (Activations three = Activations.of(List.of(merged, ma.file(), mb.file()),
                    List.of(inputs, outputsOf(stage, 0), outputsOf(stage, 1)),
                    List.of(Map.copyOf(given), Map.of(), Map.of()));
                 MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
                three.run(data, batch -> {
                    for (MergedLayer l : stage) {
                        ModelRunner.Output in = batch.output(0, l.a().input());
                        int axis = l.a().patches() == null ? in.shape().length - 1 : 1;
                        if (in.shape()[axis] != l.channels()) {
                            throw new GraftException(merged, l.a().weight(), "the merged model's input to this layer, '"
                                    + l.a().input() + "', has shape " + java.util.Arrays.toString(in.shape())
                                    + "; the merge expects " + l.channels() + " along axis " + axis);
                        }
                        float[] x = l.inputs(in);
                        float[] y = l.targets(batch.output(1, l.a().output()), batch.output(2, l.b().output()));
                        systems.get(l).add(x, y, x.length / l.inputs(), products);
                    }
                }, progress, "fitting");
            }
            for (Made m : solve(stage, systems)) {
                ready.putAll(m.values());
                m.values().forEach((name, v) -> {
                    OutputTensor t = tensors.get(name);
                    if (t.type() == ElementType.FLOAT) {
                        given.put(name, ModelRunner.Input.of(v, t.dims()));
                    }
                });
                report(m.layer(), new Pleas.LayerReport(m.layer().a().weight(), m.layer().inputs(),
                        m.layer().outputs(), true, m.residual()));
            }
        }
    }

    /** The output values of {@code stage}'s layers in model {@code model} (0: A, 1: B). */
    private static List<String> outputsOf(List<MergedLayer> stage, int model) {
        return stage.stream().map(l -> model == 0 ? l.a().output() : l.b().output()).toList();
    }

    /** Each layer of {@code pass} solved (its system dropped) and turned into its tensors' values. */
    private List<Made> solve(List<MergedLayer> pass, Map<MergedLayer, LeastSquares> systems) {
        return inParallel(pass, l -> {
            LeastSquares.Solution solution;
            try {
                solution = systems.remove(l).solve(ridge);
            } catch (IllegalArgumentException e) {
                throw new GraftException(ma.file(), l.a().weight(), e.getMessage(), e);
            }
            return new Made(l, l.values(solution.weights()), solution.relativeResidual());
        });
    }

    /** {@code f} of each layer, on {@link Threads#workers()} threads (the count the budget was planned for). */
    private static <T> List<T> inParallel(List<MergedLayer> pass, Function<MergedLayer, T> f) {
        ForkJoinPool pool = new ForkJoinPool(Threads.workers());
        try {
            return pool.submit(() -> pass.parallelStream().map(f).toList()).join();
        } finally {
            pool.shutdown();
        }
    }

    /** A solved layer's tensor values and relative residual. */
    private record Made(MergedLayer layer, Map<String, float[]> values, double residual) {
    }

    /** The values each model shows for fitting {@code fitted}: every layer's input and output. */
    private static List<Set<String>> values(List<MergedLayer> fitted) {
        Set<String> valuesA = new LinkedHashSet<>();
        Set<String> valuesB = new LinkedHashSet<>();
        for (MergedLayer l : fitted) {
            valuesA.add(l.a().input());
            valuesA.add(l.a().output());
            valuesB.add(l.b().input());
            valuesB.add(l.b().output());
        }
        return List.of(valuesA, valuesB);
    }

    /** Closes the sessions the passes share. */
    @Override
    public void close() {
        if (runs != null) {
            runs.close();
            runs = null;
        }
    }

    private void report(MergedLayer l, Pleas.LayerReport r) {
        reports.put(l, r);
        progress.written("solving", reports.size(), layers.size());
    }
}
