package dev.graft.cli;

import dev.graft.adapters.RecursiveModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft recursive MODEL --blocks K --rank R -o OUT}: tie layers into shared blocks with layer-wise LoRA. */
@Command(name = "recursive", mixinStandardHelpOptions = true,
        description = "Tie a transformer's layers into K shared blocks (each the average of the layers it replaces) "
                + "and give each layer a rank-R LoRA from the SVD of what it lost; the file shrinks. Weight-only.")
final class RecursiveCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL")
    Path model;

    @Option(names = "--blocks", required = true, description = "shared blocks (must divide the layers)")
    int blocks;

    @Option(names = "--rank", defaultValue = "64", description = "each layer's LoRA rank (0: none)")
    int rank;

    @Option(names = "--tying", defaultValue = "consecutive", paramLabel = "consecutive|cyclic")
    String tying;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        RecursiveModel.Tying t = switch (tying) {
            case "consecutive" -> RecursiveModel.Tying.CONSECUTIVE;
            case "cyclic" -> RecursiveModel.Tying.CYCLIC;
            default -> throw new IllegalArgumentException("--tying must be consecutive or cyclic, got '" + tying + "'");
        };
        RecursiveModel.Report r = RecursiveModel.of(model).blocks(blocks).tying(t).rank(rank).writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        out.printf(Locale.ROOT, "%d layers into %d %s blocks, LoRA rank %d: dense parameters %d → %d (%.2f×)%n",
                r.layers(), r.blocks(), r.tying(), r.rank(), r.denseParametersBefore(), r.denseParametersAfter(),
                (double) r.denseParametersAfter() / r.denseParametersBefore());
        out.println("wrote " + output);
        return 0;
    }
}
