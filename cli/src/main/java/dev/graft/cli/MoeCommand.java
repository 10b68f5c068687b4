package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.moe.RouterSource;
import dev.graft.moe.WeightEnsemblingMoe;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft moe BASE EXPERT... -o OUT}: a weight-ensembling mixture of experts (WEMoE) as one ONNX graph, with
 * routers fitted to each expert's task samples, from prototypes, from a folder, or constant. The same merge as
 * {@code graft merge} of a {@code merge_method: wemoe} recipe.
 */
@Command(name = "moe", mixinStandardHelpOptions = true,
        description = "Write a routed merge (WEMoE): each routed dense layer computes W0 + sum_t r_t(x)·tau_t with a "
                + "router per layer; the other weights are task arithmetic (or --static). Routers: fitted to each "
                + "expert's task samples (--calibration, one per expert), prototypes, constant, or a folder of .npy "
                + "routers trained elsewhere.")
final class MoeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "BASE", description = "the model the experts were fine-tuned from")
    Path base;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "EXPERT", description = "fine-tunes of BASE")
    List<Path> experts;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--router", defaultValue = "fitted", paramLabel = "fitted|prototypes|constant|FOLDER",
            description = "where routers come from (default ${DEFAULT-VALUE}); a folder holds GROUP.fc2.weight.npy ...")
    String router;

    @Option(names = "--calibration", paramLabel = "FILE", description = "one per expert, in order: its task samples "
            + "(a .npy array or a text file, one sample per line); needed by fitted and prototype routers")
    List<Path> calibrations;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "128", description = "task samples per expert at most (text)")
    int samples;

    @Option(names = "--routed", defaultValue = "mlp", paramLabel = "mlp|all|REGEX",
            description = "routed dense layers: outside attention (default), all, or module paths matching REGEX")
    String routed;

    @Option(names = "--lambda", defaultValue = "0.3", description = "task arithmetic's λ for the other weights "
            + "(and constant routers; default ${DEFAULT-VALUE})")
    double lambda;

    @Option(names = "--static", paramLabel = "MODEL", description = "take the other weights from this merge instead")
    Path staticMerge;

    @Option(names = "--passes", defaultValue = "2", description = "router fits, each on the routed model of the one "
            + "before (default ${DEFAULT-VALUE})")
    int passes;

    @Option(names = "--router-scale", defaultValue = "1", description = "coefficients = scale × task posteriors")
    double scale;

    @Option(names = "--router-ridge", description = "L2 pull of the fitted routers' logistic regression")
    Double ridge;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        boolean fitted = router.equals("fitted") || router.equals("prototypes");
        List<Calibration> data = new ArrayList<>();
        if (fitted) {
            if (calibrations == null || calibrations.size() != experts.size()) {
                throw new InvalidSettingException("--router " + router + " needs one --calibration per expert (its "
                        + "task samples): " + experts.size() + " experts, " + (calibrations == null ? 0
                        : calibrations.size()) + " calibrations");
            }
            for (int i = 0; i < experts.size(); i++) {
                data.add(AlignCommand.calibration(calibrations.get(i), tokenizer, samples, experts.get(i)));
            }
        } else if (calibrations != null) {
            throw new InvalidSettingException("--calibration goes with --router fitted or prototypes");
        }
        RouterSource source = switch (router) {
            case "fitted" -> RouterSource.fitted(data);
            case "prototypes" -> RouterSource.prototypes(data);
            case "constant" -> RouterSource.constant();
            default -> {
                if (!Files.isDirectory(Path.of(router))) {
                    throw new InvalidSettingException("--router must be fitted, prototypes, constant or a folder of "
                            + ".npy routers; " + router + " is none of these");
                }
                yield RouterSource.file(Path.of(router));
            }
        };
        if (ridge != null) {
            source = source.ridge(ridge);
        }
        WeightEnsemblingMoe moe = WeightEnsemblingMoe.of(base, experts).routers(source.scale(scale)).lambda(lambda)
                .routed(routed).passes(passes);
        if (staticMerge != null) {
            moe.staticMerge(staticMerge);
        }
        WeightEnsemblingMoe.Report r = moe.writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
        } else {
            print(out, r);
        }
        return 0;
    }

    /** The report: one line per router group (its router, conflict of the task vectors, routing accuracy). */
    static void print(PrintWriter out, WeightEnsemblingMoe.Report r) {
        out.printf(Locale.ROOT, "routed merge (WEMoE) of %d experts, routers %s: %d router groups, %s%n", r.experts(),
                r.routers(), r.groups().size(), Output.bytes(r.bytes()));
        int width = Math.max(5, r.groups().stream().mapToInt(g -> g.name().length()).max().orElse(5));
        String fmt = "%-" + width + "s %7s %-26s %9s %7s %8s  %s%n";
        out.printf(fmt, "GROUP", "WEIGHTS", "ROUTER", "CONFLICTS", "COSINE", "ROUTING", "ROUTER INPUT");
        for (WeightEnsemblingMoe.GroupReport g : r.groups()) {
            out.printf(Locale.ROOT, fmt, g.name(), g.weights().size(), g.router(),
                    String.format(Locale.ROOT, "%.3f", g.signConflict()),
                    String.format(Locale.ROOT, "%.3f", g.cosine()),
                    Double.isNaN(g.routingAccuracy()) ? "-" : String.format(Locale.ROOT, "%.3f", g.routingAccuracy()),
                    g.input());
        }
        out.println("wrote " + r.target());
    }
}
