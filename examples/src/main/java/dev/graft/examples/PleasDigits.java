package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.GraftIoException;
import dev.graft.data.Calibration;
import dev.graft.merge.Linear;
import dev.graft.pleas.Pleas;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * PLeaS on the independently trained digits models of {@code recipes/independent}, measured on the digits test set
 * of {@code recipes/digits}: test accuracy against the merged width, next to the naive average and the
 * permutation-aligned average (PLeaS at 1.0× without least squares: activation matching, then averaging).
 * <ul>
 *   <li>{@link #sharedLabels}: {@code KIND_seed1} and {@code KIND_seed2}, both on all ten digits.</li>
 *   <li>{@link #ownHeads}: {@code KIND_low} (digits 0–4) and {@code KIND_high} (5–9), merged up to their heads
 *   ({@code keepLast(1)}); each head is scored on its own digits (the mean of both), and jointly on all ten
 *   digits by the largest of the ten logits.</li>
 * </ul>
 * Calibration is 256 training images, or (the data-free case) {@code calibration_noise.npy} or
 * {@code calibration_transposed.npy}.
 *
 * <p>Run: {@code java -cp ... dev.graft.examples.PleasDigits [examples/recipes/independent] [OUT_FOLDER]
 * [merged|originals]} (the layers' fit inputs, default merged): prints
 * the README's tables.
 */
public final class PleasDigits {
    /** The widths measured. */
    public static final List<Double> WIDTHS = List.of(1.0, 1.25, 1.5, 2.0);

    /** The digits test set. */
    private record TestSet(float[] x, int[] y) {
        static TestSet read(Path digitsFolder) {
            try {
                FloatBuffer f = ByteBuffer.wrap(Files.readAllBytes(digitsFolder.resolve("test_x.f32")))
                        .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                float[] x = new float[f.remaining()];
                f.get(x);
                byte[] labels = Files.readAllBytes(digitsFolder.resolve("test_y.u8"));
                int[] y = new int[labels.length];
                for (int i = 0; i < y.length; i++) {
                    y[i] = labels[i];
                }
                return new TestSet(x, y);
            } catch (IOException e) {
                throw new GraftIoException(digitsFolder, "read", e);
            }
        }

        /** Each output's logits ({@code N × classes}). */
        Map<String, float[]> logits(Path model, Set<String> outputs) {
            try (ModelRunner r = new ModelRunner(model, 1)) {
                Map<String, float[]> out = new LinkedHashMap<>();
                r.run(Map.of("x", ModelRunner.Input.of(x, y.length, 64)), outputs)
                        .forEach((name, o) -> out.put(name, o.values()));
                return out;
            }
        }

        /**
         * Accuracy of {@code logits} ({@code classes} per row) on the images of digits {@code from} to
         * {@code from + classes − 1}, or on all if {@code from} is negative; digit {@code d} is logit
         * {@code d − max(from, 0)}.
         */
        double accuracy(float[] logits, int from) {
            int classes = logits.length / y.length;
            int correct = 0;
            int total = 0;
            for (int i = 0; i < y.length; i++) {
                if (from >= 0 && (y[i] < from || y[i] >= from + classes)) {
                    continue;
                }
                total++;
                correct += argmax(logits, i, classes) + Math.max(from, 0) == y[i] ? 1 : 0;
            }
            return (double) correct / total;
        }

        private static int argmax(float[] logits, int row, int classes) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[row * classes + c] > logits[row * classes + best]) {
                    best = c;
                }
            }
            return best;
        }
    }

    /** Accuracy of models on all ten digits: the parents, the aligned average, and PLeaS by width. */
    public record SharedLabels(String kind, String calibration, double accuracyA, double accuracyB,
                               double naiveAverage, double alignedAverage, Map<Double, Double> byWidth) {
    }

    /** Two heads: mean of both heads' accuracy on their own digits, and joint accuracy on all ten. */
    public record HeadsAccuracy(double ownDigits, double allDigits) {
    }

    /** Models with their own heads: the parents (each on its digits), the aligned average, and PLeaS by width. */
    public record OwnHeads(String kind, String calibration, double accuracyLow, double accuracyHigh,
                           HeadsAccuracy alignedAverage, Map<Double, HeadsAccuracy> byWidth) {
    }

    private PleasDigits() {
    }

    private static Path merge(Path folder, String a, String b, String calibration, double width, Pleas.Fit fit,
                              int keepLast, Pleas.FitInputs inputs, Path target) {
        Pleas.merge(folder.resolve(a + ".onnx"), folder.resolve(b + ".onnx"))
                .calibration(Calibration.npy(folder.resolve(calibration + ".npy"), "x", 64))
                .width(width).fit(fit).keepLast(keepLast).fitInputs(inputs).writeTo(target);
        return target;
    }

    /** {@code KIND_seed1} with {@code KIND_seed2}, calibrated on {@code calibration}{@code .npy}. */
    public static SharedLabels sharedLabels(Path folder, String kind, String calibration, Pleas.FitInputs inputs,
                                            Path work) {
        TestSet test = TestSet.read(folder.resolveSibling("digits"));
        String a = kind + "_seed1";
        String b = kind + "_seed2";
        double accA = test.accuracy(test.logits(folder.resolve(a + ".onnx"), Set.of()).values().iterator().next(), -1);
        double accB = test.accuracy(test.logits(folder.resolve(b + ".onnx"), Set.of()).values().iterator().next(), -1);
        Path naive = work.resolve("naive.onnx");
        Graft.merge().model(folder.resolve(a + ".onnx"), 1).model(folder.resolve(b + ".onnx"), 1).method(new Linear())
                .writeTo(naive);
        double naiveAccuracy = test.accuracy(test.logits(naive, Set.of()).get("logits"), -1);
        Path aligned = merge(folder, a, b, calibration, 1.0, Pleas.Fit.NONE, 0, inputs,
                work.resolve("aligned.onnx"));
        double alignedAccuracy = test.accuracy(test.logits(aligned, Set.of()).get("logits"), -1);
        Map<Double, Double> byWidth = new LinkedHashMap<>();
        for (double w : WIDTHS) {
            Path m = merge(folder, a, b, calibration, w, Pleas.Fit.ALL, 0, inputs, work.resolve("pleas.onnx"));
            byWidth.put(w, test.accuracy(test.logits(m, Set.of()).get("logits"), -1));
        }
        return new SharedLabels(kind, calibration, accA, accB, naiveAccuracy, alignedAccuracy, byWidth);
    }

    /** {@code KIND_low} with {@code KIND_high}, each keeping its head. */
    public static OwnHeads ownHeads(Path folder, String kind, String calibration, Pleas.FitInputs inputs,
                                    Path work) {
        TestSet test = TestSet.read(folder.resolveSibling("digits"));
        String a = kind + "_low";
        String b = kind + "_high";
        double low = test.accuracy(test.logits(folder.resolve(a + ".onnx"), Set.of()).get("logits"), 0);
        double high = test.accuracy(test.logits(folder.resolve(b + ".onnx"), Set.of()).get("logits"), 5);
        Path aligned = merge(folder, a, b, calibration, 1.0, Pleas.Fit.NONE, 1, inputs,
                work.resolve("aligned.onnx"));
        Map<Double, HeadsAccuracy> byWidth = new LinkedHashMap<>();
        for (double w : WIDTHS) {
            Path m = merge(folder, a, b, calibration, w, Pleas.Fit.ALL, 1, inputs, work.resolve("pleas.onnx"));
            byWidth.put(w, heads(test, m));
        }
        return new OwnHeads(kind, calibration, low, high, heads(test, aligned), byWidth);
    }

    private static HeadsAccuracy heads(TestSet test, Path model) {
        Map<String, float[]> out = test.logits(model, Set.of("logits", "logits_b"));
        float[] low = out.get("logits");
        float[] high = out.get("logits_b");
        int n = test.y().length;
        float[] joint = new float[n * 10];
        for (int i = 0; i < n; i++) {
            System.arraycopy(low, i * 5, joint, i * 10, 5);
            System.arraycopy(high, i * 5, joint, i * 10 + 5, 5);
        }
        return new HeadsAccuracy(0.5 * (test.accuracy(low, 0) + test.accuracy(high, 5)), test.accuracy(joint, -1));
    }

    public static void main(String[] args) throws IOException {
        Path folder = Path.of(args.length > 0 ? args[0] : "examples/recipes/independent");
        Path work = Files.createDirectories(Path.of(args.length > 1 ? args[1] : "target/pleas-digits"));
        Pleas.FitInputs inputs = Pleas.FitInputs.of(args.length > 2 ? args[2] : "originals");
        System.out.println("| model | calibration | parents | naive average | aligned average | PLeaS 1.0× | 1.25× "
                + "| 1.5× | 2.0× |");
        System.out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (String kind : List.of("mlp", "cnn")) {
            for (String calibration : List.of("calibration", "calibration_transposed", "calibration_noise")) {
                SharedLabels r = sharedLabels(folder, kind, calibration, inputs, work);
                System.out.printf(Locale.ROOT, "| %s | %s | %.3f / %.3f | %.3f | %.3f |%s%n", kind, calibration,
                        r.accuracyA(), r.accuracyB(), r.naiveAverage(), r.alignedAverage(), cells(r.byWidth()));
            }
        }
        System.out.println();
        System.out.println("| model | calibration | parents (own digits) | aligned average | PLeaS 1.0× | 1.25× | 1.5× "
                + "| 2.0× |");
        System.out.println("| --- | --- | --- | --- | --- | --- | --- | --- |");
        for (String kind : List.of("mlp", "cnn")) {
            for (String calibration : List.of("calibration", "calibration_transposed", "calibration_noise")) {
                OwnHeads r = ownHeads(folder, kind, calibration, inputs, work);
                StringBuilder cells = new StringBuilder();
                r.byWidth().values().forEach(h -> cells.append(String.format(Locale.ROOT, " %.3f (%.3f) |",
                        h.ownDigits(), h.allDigits())));
                System.out.printf(Locale.ROOT, "| %s | %s | %.3f / %.3f | %.3f (%.3f) |%s%n", kind, calibration,
                        r.accuracyLow(), r.accuracyHigh(), r.alignedAverage().ownDigits(),
                        r.alignedAverage().allDigits(), cells);
            }
        }
    }

    private static String cells(Map<Double, Double> byWidth) {
        StringBuilder s = new StringBuilder();
        byWidth.values().forEach(v -> s.append(String.format(Locale.ROOT, " %.3f |", v)));
        return s.toString();
    }
}
