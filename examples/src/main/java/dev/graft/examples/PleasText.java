package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.data.Calibration;
import dev.graft.eval.Candidate;
import dev.graft.eval.Metric;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import dev.graft.merge.Linear;
import dev.graft.pleas.Pleas;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * PLeaS on two sentence-embedding models, bge-small-en-v1.5 and e5-small-v2 (12-layer BERTs with FFN width
 * 1536): retrieval MRR (a {@link Metric#MRR} {@link Task} on {@code recipes/text/retrieval.tsv}) of each parent, the
 * naive average, the permutation-aligned average (activation matching, then averaging), the averaged-output
 * ensemble (2× compute), and PLeaS at the FFN widths asked, fitting every layer or only the FFN's. The residual
 * stream and the attention heads are merged at 1.0×.
 *
 * <p>Run: {@code java -cp ... dev.graft.examples.PleasText MODELS_FOLDER CALIBRATION.txt SAMPLES WORK FIT:WIDTH...}
 * (or {@code FIT:WIDTH:RIDGE[:MATCHING[:INPUTS]]}) with {@code FIT} one of {@code auto}, {@code all},
 * {@code resizable}, {@code none}, {@code MATCHING} one of {@code auto} (default), {@code activations},
 * {@code weights}, {@code identity}, and {@code INPUTS} {@code originals} (default) or
 * {@code merged}; for example
 * {@code auto:1.0 all:1.5 resizable:1.0 all:1.0:0.1:identity:originals}. The retrieval set is
 * {@code retrieval.tsv} next to the calibration file: pass {@code heldout.txt} for calibration that shares no
 * sentence with it. Prints one line per model, with the merge's time.
 */
public final class PleasText {
    private PleasText() {
    }

    /** One PLeaS merge of bge (A) and e5 (B) to {@code target}; returns the seconds it took. */
    public static double merge(Path models, Path calibration, int samples, Pleas.Fit fit, double width, double ridge,
                               Pleas.Matching matching, Pleas.FitInputs inputs, Path target) {
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        long start = System.nanoTime();
        Pleas.merge(bge, models.resolve("e5-small-v2.onnx"))
                .calibration(Calibration.text(calibration, models.resolve("bge-small-en-v1.5-tokenizer.json"), samples,
                        128))
                .width(width).fit(fit).ridge(ridge).matching(matching).fitInputs(inputs).writeTo(target);
        return (System.nanoTime() - start) / 1e9;
    }

    public static void main(String[] args) throws IOException {
        Path models = Path.of(args[0]);
        Path calibration = Path.of(args[1]);
        int samples = Integer.parseInt(args[2]);
        Path work = Files.createDirectories(Path.of(args[3]));
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        Path e5 = models.resolve("e5-small-v2.onnx");
        Task mrr = Task.of("retrieval", TaskData.text(calibration.resolveSibling("retrieval.tsv"),
                TaskData.Layout.PAIRS, models.resolve("bge-small-en-v1.5-tokenizer.json"), 400, List.of()), Metric.MRR);
        System.out.printf(Locale.ROOT, "bge %.3f | e5 %.3f | ensemble %.3f%n", mrr.evaluate(bge), mrr.evaluate(e5),
                mrr.score(Candidate.ensemble("ensemble", List.of(bge, e5))));
        Path naive = work.resolve("naive.onnx");
        Graft.merge().model(bge, 1).model(e5, 1).method(new Linear()).writeTo(naive);
        System.out.printf(Locale.ROOT, "naive average %.3f%n", mrr.evaluate(naive));
        for (int i = 4; i < args.length; i++) {
            String[] spec = args[i].split(":");
            Pleas.Fit fit = Pleas.Fit.of(spec[0]);
            double width = Double.parseDouble(spec[1]);
            double ridge = spec.length > 2 ? Double.parseDouble(spec[2]) : 1e-3;
            String matching = spec.length > 3 ? spec[3] : "auto";
            String inputs = spec.length > 4 ? spec[4] : "originals";
            Path merged = work.resolve("pleas.onnx");
            double seconds = merge(models, calibration, samples, fit, width, ridge, Pleas.Matching.of(matching),
                    Pleas.FitInputs.of(inputs), merged);
            System.out.printf(Locale.ROOT, "pleas fit %s width %.2f ridge %g matching %s inputs %s: %.3f (%d samples, "
                    + "%.0f s)%n", spec[0], width, ridge, matching, inputs, mrr.evaluate(merged), samples, seconds);
            System.out.flush();
        }
    }
}
