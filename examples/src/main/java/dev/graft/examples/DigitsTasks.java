package dev.graft.examples;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.graft.GraftIoException;
import dev.graft.VerificationException;
import dev.graft.data.Calibration;
import dev.graft.eval.Metric;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The digits multi-task benchmark of {@code recipes/digits}: task A is digits 0–4, task B digits 5–9, task C
 * all digits mirrored left to right; accuracy is the share of test images whose largest logit is the label.
 * Test data: {@code test_x.f32} and {@code test_x_mirrored.f32} (N×64 little-endian float32), {@code test_y.u8}.
 */
public final class DigitsTasks {
    private final float[] x;
    private final float[] mirrored;
    private final byte[] y;

    public DigitsTasks(Path folder) {
        try {
            this.x = floats(Files.readAllBytes(folder.resolve("test_x.f32")));
            this.mirrored = floats(Files.readAllBytes(folder.resolve("test_x_mirrored.f32")));
            this.y = Files.readAllBytes(folder.resolve("test_y.u8"));
        } catch (IOException e) {
            throw new GraftIoException(folder, "read", e);
        }
    }

    private DigitsTasks(float[] x, float[] mirrored, byte[] y) {
        this.x = x;
        this.mirrored = mirrored;
        this.y = y;
    }

    /** Held-out images. */
    public int size() {
        return y.length;
    }

    /** The same tasks on images {@code from} (inclusive) to {@code to} (exclusive) only. */
    public DigitsTasks split(int from, int to) {
        return new DigitsTasks(Arrays.copyOfRange(x, from * 64, to * 64),
                Arrays.copyOfRange(mirrored, from * 64, to * 64), Arrays.copyOfRange(y, from, to));
    }

    /**
     * Each task's images, unlabelled, as calibration data for data-aware merges (task A: digits 0–4, B: 5–9, C: all
     * digits mirrored), in the order of {@link #accuracy}.
     */
    public List<Calibration> taskInputs() {
        List<Calibration> out = new ArrayList<>();
        for (int task = 0; task < 3; task++) {
            float[] source = task == 2 ? mirrored : x;
            float[] v = new float[source.length];
            int rows = 0;
            for (int i = 0; i < y.length; i++) {
                if (task == 2 || (task == 0) == (y[i] < 5)) {
                    System.arraycopy(source, i * 64, v, rows++ * 64, 64);
                }
            }
            v = Arrays.copyOf(v, rows * 64);
            out.add(Calibration.of("digits task " + "ABC".charAt(task),
                    List.of(Map.of("x", ModelRunner.Input.of(v, rows, 64)))));
        }
        return out;
    }

    /** The task names, in the order of {@link #taskInputs} and {@link #accuracy}. */
    public static final List<String> NAMES = List.of("A (0-4)", "B (5-9)", "C (mirrored)");

    /**
     * The three tasks as {@link Task}s for an {@link dev.graft.eval.Evaluation}: each task's images and labels
     * (accuracy by the largest of the ten logits), with each task's fine-tuned model from {@code fineTuned} (by
     * task name) for the normalized accuracy.
     */
    public List<Task> tasks(Map<String, Path> fineTuned) {
        List<Task> out = new ArrayList<>();
        List<Calibration> inputs = taskInputs();
        for (int task = 0; task < 3; task++) {
            int[] labels = new int[y.length];
            int rows = 0;
            for (int i = 0; i < y.length; i++) {
                if (task == 2 || (task == 0) == (y[i] < 5)) {
                    labels[rows++] = y[i];
                }
            }
            Task t = Task.of(NAMES.get(task), TaskData.of(inputs.get(task), Arrays.copyOf(labels, rows)),
                    Metric.ACCURACY);
            out.add(fineTuned.containsKey(NAMES.get(task)) ? t.withFineTuned(fineTuned.get(NAMES.get(task))) : t);
        }
        return out;
    }

    /** A models × tasks accuracy table as Markdown, with each model's mean over the tasks. */
    public static String markdown(Map<String, Map<String, Double>> table) {
        StringBuilder md = new StringBuilder("| model | A (0-4) | B (5-9) | C (mirrored) | mean |\n"
                + "| --- | --- | --- | --- | --- |\n");
        table.forEach((model, acc) -> {
            md.append("| ").append(model);
            acc.values().forEach(a -> md.append(String.format(Locale.ROOT, " | %.3f", a)));
            md.append(String.format(Locale.ROOT, " | %.3f |%n", mean(acc)));
        });
        return md.toString();
    }

    /** The mean accuracy over the tasks. */
    public static double mean(Map<String, Double> accuracy) {
        return accuracy.values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }

    private static float[] floats(byte[] bytes) {
        FloatBuffer f = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] out = new float[f.remaining()];
        f.get(out);
        return out;
    }

    /** Accuracy of {@code model} on tasks A, B and C, in that order of the map. */
    public Map<String, Double> accuracy(Path model) {
        int[] plain = predict(model, x);
        int[] flipped = predict(model, mirrored);
        int[] correct = new int[3];
        int[] total = new int[3];
        for (int i = 0; i < y.length; i++) {
            int task = y[i] < 5 ? 0 : 1;
            total[task]++;
            correct[task] += plain[i] == y[i] ? 1 : 0;
            total[2]++;
            correct[2] += flipped[i] == y[i] ? 1 : 0;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("A (0-4)", (double) correct[0] / total[0]);
        out.put("B (5-9)", (double) correct[1] / total[1]);
        out.put("C (mirrored)", (double) correct[2] / total[2]);
        return out;
    }

    private int[] predict(Path model, float[] inputs) {
        int n = y.length;
        OrtEnvironment env = dev.graft.verify.OrtEnvironments.get();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(1);
            try (OrtSession session = env.createSession(model.toString(), options);
                 OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(inputs), new long[] {n, 64});
                 OrtSession.Result result = session.run(Map.of("x", in))) {
                FloatBuffer logits = ((OnnxTensor) result.get(0)).getFloatBuffer();
                int classes = logits.remaining() / n;
                int[] out = new int[n];
                for (int i = 0; i < n; i++) {
                    int best = 0;
                    for (int c = 1; c < classes; c++) {
                        if (logits.get(i * classes + c) > logits.get(i * classes + best)) {
                            best = c;
                        }
                    }
                    out[i] = best;
                }
                return out;
            }
        } catch (OrtException e) {
            throw new VerificationException(model, null, "ONNX Runtime cannot run the model: " + e.getMessage(), e);
        }
    }
}
