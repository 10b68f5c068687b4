package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.align.Alignment;
import dev.graft.align.PermutationSpec;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
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

/** {@code graft align MODEL --to REFERENCE -o OUT}: bring a model's hidden units into a reference's order. */
@Command(name = "align", mixinStandardHelpOptions = true,
        description = "Permute a model's hidden units into a reference model's order (same function, unless "
                + "--permute-outputs), so that the two can be merged unit by unit.")
final class AlignCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL", description = "the model to align")
    Path model;

    @Mixin
    ProbeDimsMixin probeDims;

    @Option(names = "--to", required = true, paramLabel = "REFERENCE", description = "the model to align to")
    Path reference;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--method", defaultValue = "weight", paramLabel = "weight|activation",
            description = "how units are matched: weight (weight matching, no data) or activation (correlations on "
                    + "--calibration data)")
    String method;

    @Option(names = "--calibration", paramLabel = "FILE",
            description = "calibration data: a .npy array (samples first) or a text file, one sample per line")
    Path calibration;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "512", description = "calibration samples used at most (text)")
    int samples;

    @Option(names = "--seed", defaultValue = "0", description = "order in which groups are visited")
    long seed;

    @Option(names = "--max-passes", defaultValue = "100", description = "cap on passes over the groups")
    int maxPasses;

    @Option(names = "--permute-outputs",
            description = "let groups reach graph outputs (the residual stream aligns; output coordinates reorder)")
    boolean permuteOutputs;

    @Option(names = "--keep-key-biases", description = "count attention key biases in the costs")
    boolean keepKeyBiases;

    @Option(names = "--permutations", paramLabel = "FILE", description = "write the permutations as JSON")
    Path permutations;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    /** The permutations file: for each group its size, parent and permutation. */
    record PermutationsFile(String model, String reference, String method, List<GroupPermutation> groups) {
    }

    /** One group's permutation: unit i of the aligned model is unit permutation[i] of the model. */
    record GroupPermutation(String name, int size, String parent, int[] permutation) {
    }

    @Override
    public Integer call() throws IOException {
        Alignment.Result r = alignment(method, calibration, tokenizer, samples, model).seed(seed).maxPasses(maxPasses)
                .permuteOutputs(permuteOutputs).keepKeyBiases(keepKeyBiases)
                .probes(probeDims.apply(ProbeOptions.defaults())).alignTo(model, reference, output);
        if (permutations != null) {
            PermutationSpec s = r.permutations().spec();
            List<GroupPermutation> groups = new ArrayList<>();
            for (int g = 0; g < s.groups().size(); g++) {
                PermutationSpec.Group group = s.groups().get(g);
                groups.add(new GroupPermutation(group.name(), group.size(),
                        group.nested() ? s.groups().get(group.parent()).name() : null, r.permutations().get(g)));
            }
            Path folder = permutations.toAbsolutePath().getParent();
            Files.createDirectories(folder);
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(permutations))) {
                Output.json(w, new PermutationsFile(model.toString(), reference.toString(), r.report().method(), groups));
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r.report());
        } else {
            print(out, r.report());
        }
        return 0;
    }

    /** The alignment a command line asks for; activation matching reads its calibration data for {@code model}. */
    static Alignment alignment(String method, Path calibration, Path tokenizer, int samples, Path model) {
        switch (method) {
            case "weight":
                if (calibration != null) {
                    throw new InvalidSettingException("--calibration goes with --method activation");
                }
                return Alignment.weightMatching();
            case "activation":
                if (calibration == null) {
                    throw new InvalidSettingException("--method activation needs --calibration FILE");
                }
                return Alignment.activationMatching(calibration(calibration, tokenizer, samples, model));
            default:
                throw new InvalidSettingException("--method " + method + " is not known (known: weight, activation)");
        }
    }

    /** The calibration options as the one spec recipes and the API use; arrays feed the model's first input. */
    static Calibration calibration(Path data, Path tokenizer, int samples, Path model) {
        return new CalibrationSpec(data, tokenizer, null, samples).load(model);
    }

    private void print(PrintWriter out, Alignment.Report r) {
        out.printf(Locale.ROOT, "aligned %s to %s by %s: %d groups, %d passes, %.1f s%n", r.model(), r.reference(),
                r.method(), r.groups().size(), r.passes(), r.seconds());
        String fmt = "%-48s %6s %6s %14s %14s%n";
        out.printf(fmt, "GROUP", "SIZE", "MOVED", "IDENTITY", "MATCHED");
        for (Alignment.GroupReport g : r.groups()) {
            if (g.parent() != null) {
                continue; // nested groups are scored with their parent
            }
            out.printf(Locale.ROOT, fmt, g.group(), g.size(), g.moved(), String.format(Locale.ROOT, "%.4g", g.identity()),
                    String.format(Locale.ROOT, "%.4g", g.matched()));
        }
        long nested = r.groups().stream().filter(g -> g.parent() != null).count();
        if (nested > 0) {
            out.printf("(%d nested groups, such as the head dimension within each head, are matched with their parent)%n",
                    nested);
        }
        out.printf("%d weight axes stay as they are (see graft inspect --groups)%n", r.fixedAxes());
        out.println("wrote " + output);
    }
}
