package dev.graft.cli;

import dev.graft.pleas.Pleas;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft pleas A B --width W --calibration FILE -o OUT}: merge models from different starts to a chosen width. */
@Command(name = "pleas", mixinStandardHelpOptions = true,
        description = "Merge two models trained from different starts by partial matching and least squares "
                + "(PLeaS), to hidden widths between one model's (1.0) and both (2.0). Linear layers with "
                + "element-wise ops between (MLPs) for now.")
final class PleasCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "A", description = "the first model (its graph is kept)")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "the second model")
    Path b;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--width", defaultValue = "1.0", description = "hidden widths as a multiple of one model's")
    double width;

    @Option(names = "--ridge", defaultValue = "1e-3", description = "ridge toward the averaged weights")
    double ridge;

    @Option(names = "--calibration", required = true, paramLabel = "FILE",
            description = "calibration data: a .npy array (samples first) or a text file, one sample per line")
    Path calibration;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "2000", description = "calibration samples used at most (text)")
    int samples;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        Pleas.Report r = Pleas.merge(a, b).width(width).ridge(ridge)
                .calibration(AlignCommand.calibration(calibration, tokenizer, samples, a)).writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        out.printf(Locale.ROOT, "merged %s and %s by PLeaS at width %.2f on %d calibration samples%n", a, b, width,
                r.samples());
        out.printf("%-32s %6s %8s %8s %10s%n", "GROUP", "WIDTH", "MERGED", "PAIRS", "SIMILARITY");
        for (Pleas.GroupReport g : r.groups()) {
            out.printf(Locale.ROOT, "%-32s %6d %8d %8d %10.3f%n", g.group(), g.width(), g.mergedWidth(), g.mergedPairs(),
                    g.meanSimilarity());
        }
        out.printf("%-32s %8s %8s %10s%n", "LAYER", "INPUTS", "OUTPUTS", "RESIDUAL");
        for (Pleas.LayerReport l : r.layers()) {
            out.printf(Locale.ROOT, "%-32s %8d %8d %10.4f%n", l.weight(), l.inputs(), l.outputs(), l.relativeResidual());
        }
        out.println("wrote " + output);
        return 0;
    }
}
