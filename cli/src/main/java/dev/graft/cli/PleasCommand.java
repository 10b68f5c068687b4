package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.exec.Execution;
import dev.graft.pleas.Pleas;
import dev.graft.verify.ProbeOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft pleas A B --width W --calibration FILE -o OUT}: merge models from different starts to a chosen width. */
@Command(name = "pleas", mixinStandardHelpOptions = true,
        description = "Merge two models trained from different starts by partial matching and least squares "
                + "(PLeaS), to hidden widths between one model's (1.0) and both (2.0). Dense and 2-D convolution "
                + "layers (batch norms folded in); MLP hidden layers, CNN channels and transformer FFNs may widen, "
                + "other groups are merged at 1.0.")
final class PleasCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "A", description = "the first model (its graph is kept)")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "the second model")
    Path b;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--width", defaultValue = "1.0", description = "widths of groups that may widen, as a multiple "
            + "of one model's (1.0 to 2.0; default ${DEFAULT-VALUE})")
    double width;

    @Option(names = "--group-width", paramLabel = "GROUP=W", description = "one group's own width (names from "
            + "graft inspect --groups); repeatable")
    Map<String, Double> groupWidths = new LinkedHashMap<>();

    @Option(names = "--spread", defaultValue = "uniform", paramLabel = "uniform|least-similar",
            description = "how --width is spread over the groups: each group as wide (uniform), or the same "
                    + "parameters on the least similar pairs of all groups (least-similar)")
    String spread;

    @Option(names = "--matching", defaultValue = "auto", paramLabel = "auto|activations|weights|identity",
            description = "how B's units pair with A's: auto (default: as they are for models that share a start, "
                    + "by mean weight cosine, else by activations), by activation correlation, weight matching, or "
                    + "as they are")
    String matching;

    @Option(names = "--fit", defaultValue = "auto", paramLabel = "auto|all|resizable|none",
            description = "layers fitted by least squares (the others are averaged after matching); auto (default):"
                    + " resizable for models that share a start, else all")
    String fit;

    @Option(names = "--fit-inputs", defaultValue = "originals", paramLabel = "originals|merged",
            description = "inputs the layers are fitted on: the original models' (default; every layer independent) "
                    + "or the merged model's own, layer by layer (one pass per stage; measured worse so far)")
    String fitInputs;

    @Option(names = "--keep-last", defaultValue = "0", paramLabel = "K",
            description = "keep the last K layers per model (own heads); B's outputs get the suffix _b")
    int keepLast;

    @Option(names = "--ridge", defaultValue = "1e-3", description = "ridge toward the averaged weights")
    double ridge;

    @Option(names = "--calibration", required = true, paramLabel = "FILE",
            description = "calibration data: a .npy array (samples first) or a text file, one sample per line")
    Path calibration;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "2000", description = "calibration samples used at most (text)")
    int samples;

    @Mixin
    ProbeDimsMixin probeDims;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        Pleas.Report r;
        try (Output.Progress progress = Output.Progress.stages(json)) {
            Pleas p = Pleas.merge(a, b).width(width).ridge(ridge).keepLast(keepLast)
                    .spread(option("--spread", Pleas.Spread::of, spread)).fit(option("--fit", Pleas.Fit::of, fit))
                    .fitInputs(option("--fit-inputs", Pleas.FitInputs::of, fitInputs))
                    .matching(option("--matching", Pleas.Matching::of, matching))
                    .calibration(AlignCommand.calibration(calibration, tokenizer, samples, a))
                    .probes(probeDims.apply(ProbeOptions.defaults()));
            groupWidths.forEach(p::width);
            r = p.writeTo(output, Execution.defaults().withProgress(progress));
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
        } else {
            print(out, r, output);
        }
        return 0;
    }

    /** The report as tables: groups (widths, pairs, similarity, why fixed) and layers (residuals). */
    static void print(PrintWriter out, Pleas.Report r, Path output) {
        out.printf(Locale.ROOT, "merged %s and %s by PLeaS at width %.2f on %d calibration samples: %d parameters "
                + "(%.2f× A's)%n", r.modelA(), r.modelB(), r.width(), r.samples(), r.parametersMerged(),
                (double) r.parametersMerged() / r.parametersA());
        out.printf(Locale.ROOT, "units paired: %s (mean weight cosine %.3f); layers fitted: %s, on the %s inputs%n",
                r.matching(), r.weightCosine(), r.fit(), r.fitInputs().startsWith("merged") ? "merged model's" : "original models'");
        out.printf("%-36s %6s %7s %6s %10s %9s  %s%n", "GROUP", "WIDTH", "MERGED", "PAIRS", "SIMILARITY", "CONSTANT",
                "FIXED");
        for (Pleas.GroupReport g : r.groups()) {
            out.printf(Locale.ROOT, "%-36s %6d %7d %6d %10.3f %9d  %s%n", g.group(), g.width(), g.mergedWidth(),
                    g.mergedPairs(), g.meanSimilarity(), g.constantPairs(), g.fixed() == null ? "" : g.fixed());
        }
        out.printf("%-36s %8s %8s %8s%n", "LAYER", "INPUTS", "OUTPUTS", "RESIDUAL");
        for (Pleas.LayerReport l : r.layers()) {
            out.printf(Locale.ROOT, "%-36s %8d %8d %8s%n", l.weight(), l.inputs(), l.outputs(),
                    l.fitted() ? String.format(Locale.ROOT, "%.4f", l.relativeResidual()) : "averaged");
        }
        out.println("outputs: " + String.join(", ", r.outputs()));
        out.println("wrote " + output);
    }

    private static <E> E option(String option, java.util.function.Function<String, E> parse, String value) {
        try {
            return parse.apply(value);
        } catch (InvalidSettingException e) {
            throw new InvalidSettingException(option + ": " + e.getMessage(), e);
        }
    }
}
