package dev.graft.data;

import dev.graft.VerificationException;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.verify.DecoderInputs;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Runs one or several models over calibration batches with chosen intermediate values exposed, and hands each
 * batch's values to a consumer (correlations, Gram matrices, least-squares accumulators, output similarity): the
 * one way Graft runs models on data. Each model is copied once with its values added to the graph outputs (ONNX
 * Runtime shows nothing else), one session per model is opened and reused for every batch, with
 * {@link Threads#modelRuns()} intra-op threads; the copies are deleted on {@link #close()}. A decoder's other
 * inputs are made to agree with each batch's tokens ({@link DecoderInputs}: position ids, an empty KV cache).
 * Errors name the models given, not their copies. Padded positions of
 * text batches (zeros of an {@code attention_mask} input) are left out of every value that has a row per position
 * ({@link PaddedPositions}), so statistics see real tokens only.
 *
 * <pre>{@code
 * try (Activations runs = Activations.of(List.of(a, b), List.of(valuesA, valuesB))) {
 *     runs.run(calibration, batch -> accumulate(batch.output(0, "h1"), batch.output(1, "h1")), progress, "fitting");
 * }
 * }</pre>
 */
public final class Activations implements AutoCloseable {
    private final TemporaryFolder folder;
    private final List<Path> models;
    private final List<ModelRunner> runners = new ArrayList<>();
    private final List<DecoderInputs> decoderInputs = new ArrayList<>();
    private final List<Set<String>> values = new ArrayList<>();

    /**
     * One batch's outputs: per model (by position, as given to {@link #of}), the exposed values (or, with none asked
     * for, the graph outputs) by name.
     */
    public record Batch(int index, List<Path> models, List<Map<String, ModelRunner.Output>> outputs) {
        /**
         * Value {@code name} of model {@code model} in this batch.
         *
         * @throws VerificationException naming the model file and the value if ONNX Runtime did not compute it as a
         *                               float tensor
         */
        public ModelRunner.Output output(int model, String name) {
            ModelRunner.Output o = outputs.get(model).get(name);
            if (o == null || o.values() == null) {
                throw new VerificationException(models.get(model), name, "was not computed as a float tensor on "
                        + "calibration batch " + index + " (expected a float value of the graph, exposed as an output)");
            }
            return o;
        }
    }

    private Activations(List<Path> models, List<? extends Collection<String>> exposed, boolean optimized) {
        this(models, exposed, optimized, models.stream().map(m -> Map.<String, ModelRunner.Input>of()).toList());
    }

    private Activations(List<Path> models, List<? extends Collection<String>> exposed, boolean optimized,
                        List<Map<String, ModelRunner.Input>> weights) {
        if (models.size() != exposed.size() || models.size() != weights.size()) {
            throw new IllegalArgumentException(models.size() + " models but " + exposed.size() + " sets of values and "
                    + weights.size() + " sets of weights");
        }
        this.models = List.copyOf(models);
        folder = TemporaryFolder.create("graft-activations");
        try {
            for (int m = 0; m < models.size(); m++) {
                Set<String> names = new LinkedHashSet<>(exposed.get(m));
                names.remove("");
                Path file = models.get(m);
                try (OnnxModel model = OnnxModel.open(file)) {
                    decoderInputs.add(DecoderInputs.of(model));
                    if (!names.isEmpty()) {
                        file = ExposedValues.write(model, names, folder.resolve("model-" + m + ".onnx"));
                    }
                }
                runners.add(new ModelRunner(file, models.get(m), Threads.modelRuns(), optimized, weights.get(m)));
                values.add(names);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Prepares {@code models.get(i)} with {@code values.get(i)} exposed (none: its graph outputs). */
    public static Activations of(List<Path> models, List<? extends Collection<String>> values) {
        return new Activations(models, values, true);
    }

    /** One model with {@code values} exposed (none: its graph outputs). */
    public static Activations of(Path model, Collection<String> values) {
        return new Activations(List.of(model), List.of(values), true);
    }

    /**
     * One model with {@code values} exposed and {@code weights} in place of its initializers of the same names (a
     * model changed in memory, such as a merge built layer by layer; see {@link ModelRunner}).
     */
    public static Activations of(Path model, Collection<String> values, Map<String, ModelRunner.Input> weights) {
        return new Activations(List.of(model), List.of(values), true, List.of(weights));
    }

    /**
     * Several models, each with {@code values.get(i)} exposed and {@code weights.get(i)} in place of its initializers
     * of the same names (empty: as it is).
     */
    public static Activations of(List<Path> models, List<? extends Collection<String>> values,
                                 List<Map<String, ModelRunner.Input>> weights) {
        return new Activations(models, values, true, weights);
    }

    /**
     * One model with {@code values} exposed, run without graph optimizations: for probes that expose every value
     * of a graph once ({@link ValueShapes}), where optimizing thousands of outputs costs more than running.
     */
    public static Activations unoptimized(Path model, Collection<String> values) {
        return new Activations(List.of(model), List.of(values), false);
    }

    /**
     * Runs every model on every batch of {@code data}, in order, handing each batch's outputs to {@code consumer};
     * {@code progress} hears {@code stage} once per batch.
     */
    public void run(Calibration data, Consumer<Batch> consumer, ProgressListener progress, String stage) {
        run(data, values, consumer, progress, stage);
    }

    /**
     * As {@link #run(Calibration, Consumer, ProgressListener, String)}, fetching only {@code fetch.get(i)} of the
     * values exposed in model {@code i}: for work done in several passes over the data, each pass reusing the
     * sessions and fetching its own values.
     */
    public void run(Calibration data, List<? extends Collection<String>> fetch, Consumer<Batch> consumer,
                    ProgressListener progress, String stage) {
        List<Set<String>> names = fetch.stream().map(f -> (Set<String>) new LinkedHashSet<>(f)).toList();
        List<PaddedPositions> padded = new ArrayList<>();
        int done = 0;
        for (Map<String, ModelRunner.Input> inputs : data.batches()) {
            progress.written(stage, done + 1, data.batches().size());
            boolean masked = PaddedPositions.masked(inputs);
            List<Map<String, ModelRunner.Output>> outputs = new ArrayList<>();
            for (int m = 0; m < runners.size(); m++) {
                Map<String, ModelRunner.Input> fed = decoderInputs.get(m).complete(inputs);
                Map<String, ModelRunner.Output> out = runners.get(m).run(fed, names.get(m));
                if (masked) {
                    if (padded.size() <= m) {
                        long rows = inputs.get(PaddedPositions.MASK).shape()[0];
                        padded.add(PaddedPositions.learn(out, runners.get(m).run(
                                decoderInputs.get(m).complete(PaddedPositions.longer(inputs)), names.get(m)), rows));
                    }
                    out = padded.get(m).unpadded(out, inputs.get(PaddedPositions.MASK));
                }
                outputs.add(out);
            }
            consumer.accept(new Batch(done++, models, outputs));
        }
    }

    /** Closes the sessions and deletes the exposed copies. */
    @Override
    public void close() {
        runners.forEach(ModelRunner::close);
        folder.close();
    }
}
