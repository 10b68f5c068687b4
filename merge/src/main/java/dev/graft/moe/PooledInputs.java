package dev.graft.moe;

import dev.graft.data.Calibration;
import dev.graft.eval.Pooling;
import dev.graft.exec.Threads;
import dev.graft.onnx.ExposedValues;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.verify.DecoderInputs;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
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
        return run(model, values, tasks, (o, mask, v) -> pooling.pool(o, mask, model, v), true);
    }

    /**
     * By value name: for each task, the value at every real token of its samples ({@code attention_mask} 1), one row
     * each: what per-token gates are fitted to.
     */
    static Map<String, List<float[][]>> tokens(Path model, Set<String> values, List<Calibration> tasks) {
        return run(model, values, tasks, PooledInputs::realTokens, false);
    }

    /** The rows one batch gives of a value. */
    private interface Rows {
        float[][] of(ModelRunner.Output out, long[] mask, String value);
    }

    /** Runs {@code tasks} on {@code model}; with {@code bySample}, row k of a batch is its k-th sample's. */
    private static Map<String, List<float[][]>> run(Path model, Set<String> values, List<Calibration> tasks,
                                                    Rows rowsOf, boolean bySample) {
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
                    Map<String, List<float[]>> rows = new LinkedHashMap<>();
                    values.forEach(v -> rows.put(v, new ArrayList<>()));
                    int position = 0;
                    for (Map<String, ModelRunner.Input> batch : task.batches()) {
                        Map<String, ModelRunner.Output> o = runner.run(decoder.complete(batch),
                                new LinkedHashSet<>(values));
                        ModelRunner.Input mask = batch.get("attention_mask");
                        int n = 0;
                        for (String v : values) {
                            float[][] r = rowsOf.of(o.get(v), mask == null ? null : mask.longs(), v);
                            rows.get(v).addAll(List.of(r));
                            n = r.length;
                        }
                        position += n;
                    }
                    int samples = position;
                    rows.forEach((v, r) -> {
                        float[][] ordered = r.toArray(new float[0][]);
                        if (bySample) {
                            ordered = new float[samples][];
                            for (int k = 0; k < samples; k++) {
                                ordered[task.sampleIndex(k)] = r.get(k);
                            }
                        }
                        out.get(v).add(ordered);
                    });
                }
            }
        }
        return out;
    }

    /** The {@code [batch, positions, width]} value's rows at the positions whose mask is 1 (all without a mask). */
    private static float[][] realTokens(ModelRunner.Output out, long[] mask, String value) {
        long[] shape = out.shape();
        int width = (int) shape[shape.length - 1];
        float[] v = out.values();
        List<float[]> rows = new ArrayList<>();
        for (int t = 0; t < v.length / width; t++) {
            if (mask == null || mask.length != v.length / width || mask[t] != 0) {
                rows.add(java.util.Arrays.copyOfRange(v, t * width, (t + 1) * width));
            }
        }
        return rows.toArray(new float[0][]);
    }
}
