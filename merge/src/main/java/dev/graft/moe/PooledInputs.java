package dev.graft.moe;

import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.eval.Pooling;
import dev.graft.exec.ProgressListener;
import dev.graft.exec.Threads;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.verify.DecoderInputs;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What routers and gates are made from: each sample's pooled value at each router's input (by default the mean over
 * its real tokens, {@link Pooling#AUTO}; a {@code [batch, width]} value as it is), for the samples of each expert's
 * task, from one model (the static merge whose other layers the routed model keeps, or an upcycled model's base).
 * One session runs every batch once with every router input exposed; a decoder's batches get the inputs
 * {@link DecoderInputs} completes.
 */
final class PooledInputs {
    private PooledInputs() {
    }

    /**
     * By value name: for each task (in the order of {@code tasks}), one pooled row per sample, in the data's order.
     */
    static Map<String, List<float[][]>> of(Path model, Set<String> values, List<Calibration> tasks) {
        return of(model, values, tasks, Pooling.AUTO);
    }

    /** As {@link #of(Path, Set, List)}, pooled by {@code pooling}. */
    static Map<String, List<float[][]>> of(Path model, Set<String> values, List<Calibration> tasks,
                                           Pooling pooling) {
        Map<String, List<float[][]>> out = new LinkedHashMap<>();
        values.forEach(v -> out.put(v, new ArrayList<>()));
        try (TemporaryFolder folder = TemporaryFolder.create("graft-router-inputs")) {
            Path exposed;
            DecoderInputs decoder;
            try (OnnxModel m = OnnxModel.open(model)) {
                exposed = ExposedValues.write(m, values, folder.resolve("exposed.onnx"));
                decoder = DecoderInputs.of(m);
            }
            try (ModelRunner runner = new ModelRunner(exposed, model, Threads.modelRuns(), true, Map.of())) {
                for (Calibration task : tasks) {
                    Map<String, float[][]> rows = new LinkedHashMap<>();
                    values.forEach(v -> rows.put(v, new float[task.samples()][]));
                    int position = 0;
                    for (Map<String, ModelRunner.Input> batch : task.batches()) {
                        Map<String, ModelRunner.Output> o = runner.run(decoder.complete(batch),
                                new LinkedHashSet<>(values));
                        ModelRunner.Input mask = batch.get("attention_mask");
                        int n = 0;
                        for (String v : values) {
                            float[][] pooled = pooling.pool(o.get(v), mask == null ? null : mask.longs(), model, v);
                            for (int k = 0; k < pooled.length; k++) {
                                rows.get(v)[task.sampleIndex(position + k)] = pooled[k];
                            }
                            n = pooled.length;
                        }
                        position += n;
                    }
                    rows.forEach((v, r) -> out.get(v).add(r));
                }
            }
        }
        return out;
    }

    /**
     * By value name: for each task, the value at every real token of its samples, one row each (through
     * {@link Activations}, which leaves padded positions out): what per-token gates are fitted to.
     */
    static Map<String, List<float[][]>> tokens(Path model, Set<String> values, List<Calibration> tasks) {
        Map<String, List<float[][]>> out = new LinkedHashMap<>();
        values.forEach(v -> out.put(v, new ArrayList<>()));
        try (Activations runs = Activations.of(model, values)) {
            for (Calibration task : tasks) {
                Map<String, List<float[]>> rows = new LinkedHashMap<>();
                values.forEach(v -> rows.put(v, new ArrayList<>()));
                runs.run(task, batch -> values.forEach(v -> {
                    ModelRunner.Output o = batch.output(0, v);
                    int width = (int) o.shape()[o.shape().length - 1];
                    float[] x = o.values();
                    for (int r = 0; r < x.length / width; r++) {
                        rows.get(v).add(Arrays.copyOfRange(x, r * width, (r + 1) * width));
                    }
                }), ProgressListener.NONE, "gate inputs");
                rows.forEach((v, r) -> out.get(v).add(r.toArray(new float[0][])));
            }
        }
        return out;
    }
}
