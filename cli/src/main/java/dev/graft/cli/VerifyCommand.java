package dev.graft.cli;

import dev.graft.verify.OutputDifference;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft verify MODEL [--against OTHER]}: run in ONNX Runtime on probe inputs; compare outputs. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Load a model in ONNX Runtime and run it on generated probe inputs; with --against, run both"
                + " and print the largest output differences.")
final class VerifyCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL")
    Path model;

    @Option(names = "--against", paramLabel = "OTHER", description = "a reference model run on the same inputs")
    Path against;

    @Option(names = "--max-rel", paramLabel = "X",
            description = "fail (exit 1) if an output's max relative difference exceeds X")
    Double maxRel;

    @Option(names = "--batch", defaultValue = "2", description = "size of symbolic first dims (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--length", defaultValue = "8", description = "size of other symbolic dims (default ${DEFAULT-VALUE})")
    int length;

    @Option(names = "--seed", defaultValue = "42", description = "seed of the probe inputs (default ${DEFAULT-VALUE})")
    long seed;

    @Mixin
    ProbeDimsMixin probeDims;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ProbeOptions options = probeDims.apply(new ProbeOptions(batch, length, seed, ProbeOptions.defaults().threads()));
        VerifyReport r = new Verifier(options).verify(model, against);
        if (json) {
            Output.json(out, r);
        } else {
            out.printf("%s runs in ONNX Runtime on inputs %s%n", model, r.inputs());
            for (VerifyReport.Output o : r.outputs()) {
                out.printf("  output %s %s %s%s%n", o.name(), o.type(), o.shape(), o.finite() ? "" : "  NOT FINITE");
            }
            for (OutputDifference d : r.differences()) {
                out.printf("  vs %s: %s max abs diff %.3g, max rel diff %.3g%n", against, d.output(), d.maxAbs(),
                        d.maxRel());
            }
        }
        if (!r.allFinite()) {
            spec.commandLine().getErr().println("graft: error: " + model + ": outputs contain NaN or infinity");
            return 1;
        }
        if (maxRel != null && r.maxRel() > maxRel) {
            spec.commandLine().getErr().printf("graft: error: %s: max relative difference %.3g exceeds %.3g%n", model,
                    r.maxRel(), maxRel);
            return 1;
        }
        return 0;
    }
}
