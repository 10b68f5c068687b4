package dev.graft.examples;

import dev.graft.align.ClaFusion;
import dev.graft.align.OtFusion;
import dev.graft.data.Calibration;
import dev.graft.eval.Candidate;
import dev.graft.eval.Metric;
import dev.graft.eval.Pooling;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * CLAFusion of two sentence-embedding transformers of different depths trained apart: all-MiniLM-L6-v2 (6 layers)
 * and bge-small-en-v1.5 (12 layers), both 384 wide with 12 heads and FFNs of 1536, one vocabulary. Retrieval MRR
 * ({@code recipes/text/retrieval.tsv}, CLS and mean pooling) of each parent, their averaged-output ensemble, and
 * the fused models asked for, with the layer alignment found.
 *
 * <p>Run: {@code java -cp ... dev.graft.examples.FusionText MODELS_FOLDER CALIBRATION.txt SAMPLES WORK
 * DEPTH:SOLVER:WEIGHT[:activations][:LAYERS]...}, {@code DEPTH} {@code deeper} or {@code shallower}, {@code SOLVER} {@code exact},
 * {@code sinkhorn} or {@code none} (no unit alignment: the layer-aligned naive average), {@code WEIGHT} the target's
 * share, {@code activations} for the activation cost, {@code LAYERS} an alignment instead of CKA's
 * ({@code 1-3-5-7-9-11}); for example
 * {@code deeper:exact:0.5 deeper:none:0.5 shallower:exact:0.5 deeper:exact:0.5:1-3-5-7-9-11}. Pass {@code heldout.txt} for
 * calibration that shares no sentence with the retrieval set.
 */
public final class FusionText {
    private FusionText() {
    }

    public static void main(String[] args) throws IOException {
        Path models = Path.of(args[0]);
        Path calibration = Path.of(args[1]);
        int samples = Integer.parseInt(args[2]);
        Path work = Files.createDirectories(Path.of(args[3]));
        Path tokenizer = models.resolve("bge-small-en-v1.5-tokenizer.json");
        Path miniLm = models.resolve("all-minilm-l6-v2.onnx");
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        Task retrieval = Task.of("retrieval", TaskData.text(calibration.resolveSibling("retrieval.tsv"),
                TaskData.Layout.PAIRS, tokenizer, 400, List.of()), Metric.MRR);
        Task cls = retrieval.withPooling(Pooling.CLS);
        Task mean = retrieval.withPooling(Pooling.MEAN);
        System.out.printf(Locale.ROOT, "model | CLS | mean%n");
        for (Path p : List.of(bge, miniLm)) {
            System.out.printf(Locale.ROOT, "%s | %.3f | %.3f%n", p.getFileName(), cls.evaluate(p), mean.evaluate(p));
        }
        Candidate ensemble = Candidate.ensemble("ensemble", List.of(bge, miniLm));
        System.out.printf(Locale.ROOT, "averaged-output ensemble | %.3f | %.3f%n", cls.score(ensemble),
                mean.score(ensemble));
        for (int i = 4; i < args.length; i++) {
            String[] spec = args[i].split(":");
            ClaFusion.Depth depth = ClaFusion.Depth.valueOf(spec[0].toUpperCase(Locale.ROOT));
            OtFusion.Solver solver = OtFusion.Solver.valueOf(spec[1].toUpperCase(Locale.ROOT));
            double weight = Double.parseDouble(spec[2]);
            Path fused = work.resolve("fused.onnx");
            long start = System.nanoTime();
            ClaFusion fusion = ClaFusion.of(miniLm, bge, Calibration.text(calibration, tokenizer, samples, 128));
            for (int k = 3; k < spec.length; k++) {
                if (spec[k].equals("activations")) {
                    fusion.activationCost(true);
                } else {
                    fusion.layers(java.util.Arrays.stream(spec[k].split("-")).map(Integer::valueOf).toList());
                }
            }
            ClaFusion.Report r = fusion.depth(depth).permuteOutputs(true).solver(solver).weight(weight).writeTo(fused);
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(Locale.ROOT, "CLA %s, %s plans, s %.2f (into %s, layers %s) | %.3f | %.3f | %.0f s%n",
                    spec[0], spec[1], weight, r.targetModel(), r.alignment(), cls.evaluate(fused),
                    mean.evaluate(fused), seconds);
            System.out.flush();
        }
    }
}
