package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.GraftIoException;
import dev.graft.align.Alignment;
import dev.graft.eval.LinearConnectivity;
import dev.graft.data.Calibration;
import dev.graft.eval.Metric;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import dev.graft.verify.ModelRunner;
import dev.graft.merge.Linear;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Locale;

/**
 * Merging models trained from different starts ({@code recipes/independent}): two digit classifiers of one
 * architecture, seeds 1 and 2. Averaging their weights as they are mixes unrelated hidden units; aligning the
 * second to the first (weight matching) before averaging keeps most of their accuracy. Prints both averages'
 * test accuracy and the linear-mode-connectivity barrier of both paths, and writes the paths as JSON and SVG.
 *
 * <p>Run: {@code java -cp ... dev.graft.examples.IndependentModels recipes/independent mlp OUT_FOLDER}
 * ({@code mlp} or {@code cnn}).
 */
public final class IndependentModels {
    /** What the example measures. */
    public record Result(String kind, double accuracyA, double accuracyB, double naiveAverage, double alignedAverage,
                         LinearConnectivity.Report connectivity) {
    }

    private IndependentModels() {
    }

    /** Test-set accuracy on the digits split of {@code recipes/digits}. */
    public static Task accuracy(Path digitsFolder) {
        try {
            ByteBuffer xb = ByteBuffer.wrap(Files.readAllBytes(digitsFolder.resolve("test_x.f32")))
                    .order(ByteOrder.LITTLE_ENDIAN);
            float[] x = new float[xb.remaining() / 4];
            xb.asFloatBuffer().get(x);
            byte[] yb = Files.readAllBytes(digitsFolder.resolve("test_y.u8"));
            int[] y = new int[yb.length];
            for (int i = 0; i < y.length; i++) {
                y[i] = yb[i];
            }
            Calibration inputs = Calibration.of("digits test split",
                    List.of(Map.of("x", ModelRunner.Input.of(x, y.length, 64))));
            return Task.of("digits", TaskData.of(inputs, y), Metric.ACCURACY);
        } catch (IOException e) {
            throw new GraftIoException(digitsFolder, "read", e);
        }
    }

    /** Aligns {@code kind}_seed2 to {@code kind}_seed1, averages both ways, and measures connectivity. */
    public static Result run(Path folder, String kind, Path work, int points) {
        Path a = folder.resolve(kind + "_seed1.onnx");
        Path b = folder.resolve(kind + "_seed2.onnx");
        Path aligned = work.resolve(kind + "_seed2_aligned.onnx");
        Task accuracy = accuracy(folder.resolveSibling("digits"));
        Alignment.weightMatching().seed(0).alignTo(b, a, aligned);
        Path naive = work.resolve(kind + "_naive_average.onnx");
        Path alignedAverage = work.resolve(kind + "_aligned_average.onnx");
        Graft.merge().model(a, 1).model(b, 1).method(new Linear()).writeTo(naive);
        Graft.merge().model(a, 1).model(aligned, 1).method(new Linear()).writeTo(alignedAverage);
        LinearConnectivity.Report lmc = LinearConnectivity.measure(a, b, aligned, points, accuracy);
        return new Result(kind, accuracy.evaluate(a), accuracy.evaluate(b), accuracy.evaluate(naive),
                accuracy.evaluate(alignedAverage), lmc);
    }

    public static void main(String[] args) throws IOException {
        Path folder = Path.of(args.length > 0 ? args[0] : "examples/recipes/independent");
        String kind = args.length > 1 ? args[1] : "mlp";
        Path out = Files.createDirectories(Path.of(args.length > 2 ? args[2] : "target/independent"));
        Result r = run(folder, kind, out, 25);
        System.out.printf(Locale.ROOT, "%s: seed 1 %.3f, seed 2 %.3f; naive average %.3f, aligned average %.3f%n",
                kind, r.accuracyA(), r.accuracyB(), r.naiveAverage(), r.alignedAverage());
        System.out.printf(Locale.ROOT, "accuracy barrier: naive %.3f, aligned %.3f%n", r.connectivity().naive().barrier(),
                r.connectivity().aligned().barrier());
        LinearConnectivity.writeJson(r.connectivity(), out.resolve(kind + "-connectivity.json"));
        LinearConnectivity.writeSvg(r.connectivity(), out.resolve(kind + "-connectivity.svg"));
        System.out.println("wrote " + out.resolve(kind + "-connectivity.svg"));
    }
}
