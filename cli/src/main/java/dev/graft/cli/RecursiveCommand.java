package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.adapters.RecursiveModel;
import dev.graft.data.Calibration;
import dev.graft.eval.LinePlot;
import dev.graft.eval.OutputSimilarity;
import dev.graft.verify.ProbeOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft recursive MODEL --blocks K --rank R[,R…] [--calibration FILE --tokenizer T] -o OUT}: tie layers
 * into shared blocks with layer-wise LoRA, and measure each result's output similarity to the original. With
 * several ranks, {@code OUT} is a folder that gets {@code rank-R.onnx} for each, {@code report.json} and
 * {@code quality.svg} (similarity against rank and against file size).
 */
@Command(name = "recursive", mixinStandardHelpOptions = true,
        description = "Tie a transformer's layers into K shared blocks and give each layer a rank-R LoRA for what it "
                + "lost; the file shrinks. Weight-only by default; data-aware (activation-weighted) with "
                + "--calibration. Reports each model's output similarity to the original.")
final class RecursiveCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL")
    Path model;

    @Mixin
    ProbeDimsMixin probeDims;

    @Option(names = "--blocks", required = true, description = "shared blocks (must divide the layers)")
    int blocks;

    @Option(names = "--rank", defaultValue = "64", split = ",", paramLabel = "R[,R...]",
            description = "each layer's LoRA rank (0: none); several ranks write one model each into the OUT folder")
    List<Integer> ranks;

    @Option(names = "--tying", defaultValue = "consecutive", paramLabel = "consecutive|cyclic")
    String tying;

    @Option(names = "--shared-from", paramLabel = "J",
            description = "each block takes its J-th layer's weights (0: the first) instead of an average")
    Integer sharedFrom;

    @Option(names = "--calibration", paramLabel = "FILE",
            description = "fit on the layers' inputs over this data (a .npy array, or text with --tokenizer)")
    Path calibration;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "512", description = "calibration samples used at most (text)")
    int samples;

    @Option(names = "--damping", defaultValue = "0.01", description = "damping of the data-aware fit")
    double damping;

    @Option(names = "--refinements", defaultValue = "8",
            description = "data-aware fit: times the shared weights and the LoRAs are refitted to each other")
    int refinements;

    @Option(names = "--eval-text", paramLabel = "FILE",
            description = "text on which output similarity is measured (needs --tokenizer); default: probe inputs")
    Path evalText;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    /** One written model: the conversion's report, the file, its size and its output similarity. */
    record Written(RecursiveModel.Report report, String file, long bytes, double outputSimilarity) {
    }

    @Override
    public Integer call() throws IOException {
        RecursiveModel.Tying t = switch (tying) {
            case "consecutive" -> RecursiveModel.Tying.CONSECUTIVE;
            case "cyclic" -> RecursiveModel.Tying.CYCLIC;
            default -> throw new InvalidSettingException("--tying must be consecutive or cyclic, got '" + tying + "'");
        };
        if (evalText != null && tokenizer == null) {
            throw new InvalidSettingException("--eval-text needs --tokenizer TOKENIZER.json");
        }
        boolean sweep = ranks.size() > 1;
        RecursiveModel converter = RecursiveModel.of(model).blocks(blocks).tying(t).damping(damping)
                .refinements(refinements);
        if (sharedFrom != null) {
            converter.sharedFrom(sharedFrom);
        }
        if (calibration != null) {
            converter.calibration(AlignCommand.calibration(calibration, tokenizer, samples, model));
        }
        OutputSimilarity similarity = evalText == null ? new OutputSimilarity(model, probeDims.apply(ProbeOptions.defaults()))
                : new OutputSimilarity(model, Calibration.text(evalText, tokenizer, samples, 128));
        if (sweep) {
            Files.createDirectories(output); // once the model has run: a bad model leaves no empty folder
        }
        List<Written> written = new ArrayList<>();
        for (int rank : ranks) {
            Path file = sweep ? output.resolve("rank-" + rank + ".onnx") : output;
            RecursiveModel.Report r = converter.rank(rank).writeTo(file);
            written.add(new Written(r, file.toString(), Output.modelBytes(file), similarity.evaluate(file)));
        }
        if (sweep) {
            Files.writeString(output.resolve("report.json"), Output.jsonText(written));
            plot(written, Output.modelBytes(model), output.resolve("quality.svg"));
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, written);
            return 0;
        }
        RecursiveModel.Report first = written.get(0).report();
        out.printf(Locale.ROOT, "%d layers into %d %s blocks, fitted on %s%s; original %.1f MB%n", first.layers(),
                first.blocks(), first.tying(), first.fit(), first.calibrationRows() > 0
                        ? " (" + first.calibrationRows() + " calibration rows)" : "", Output.modelBytes(model) / 1e6);
        out.printf("%6s %14s %10s %11s  %s%n", "RANK", "DENSE PARAMS", "FILE (MB)", "SIMILARITY", "FILE");
        for (Written w : written) {
            out.printf(Locale.ROOT, "%6d %14d %10.1f %11.4f  %s%n", w.report().rank(),
                    w.report().denseParametersAfter(), w.bytes() / 1e6, w.outputSimilarity(), w.file());
        }
        if (sweep) {
            out.println("wrote " + output.resolve("report.json") + " and " + output.resolve("quality.svg"));
        }
        return 0;
    }

    private static void plot(List<Written> written, long originalBytes, Path file) {
        double[] rank = written.stream().mapToDouble(w -> w.report().rank()).toArray();
        double[] megabytes = written.stream().mapToDouble(w -> w.bytes() / 1e6).toArray();
        double[] quality = written.stream().mapToDouble(Written::outputSimilarity).toArray();
        String name = written.get(0).report().blocks() + " blocks, fitted on " + written.get(0).report().fit();
        boolean zero = java.util.Arrays.stream(rank).anyMatch(r -> r == 0);
        String title = "Output similarity against rank";
        LinePlot byRank = zero ? LinePlot.linear(title, "LoRA rank", "output cosine similarity")
                : LinePlot.log2(title, "LoRA rank", "output cosine similarity");
        LinePlot.row(file, List.of(byRank.series(name, rank, quality),
                LinePlot.linear(String.format(Locale.ROOT, "Against file size (original %.1f MB)", originalBytes / 1e6),
                        "file size (MB)", "output cosine similarity").series(name, megabytes, quality)));
    }
}
