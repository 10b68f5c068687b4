package dev.graft.cli;

import dev.graft.adapters.LoraShare;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft share ADAPTER --rank R -o DIR}: one LoRA factor shared across layers, a B per layer. */
@Command(name = "share", mixinStandardHelpOptions = true,
        description = "Refit a PEFT LoRA adapter so that the layers of each module kind share one A (a B per layer), "
                + "fitted to the layers' full updates; written as a standard PEFT adapter.")
final class ShareCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ADAPTER", description = "a PEFT adapter folder")
    Path adapter;

    @Option(names = "--rank", defaultValue = "16", description = "rank of each shared factor")
    int rank;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "the adapter folder")
    Path output;

    @Option(names = "--graph", paramLabel = "BASE=OUT.onnx",
            description = "also write BASE with the shared adapter baked in as LoRA branches, each shared A one "
                    + "initializer read by every layer")
    Map<Path, Path> graph = Map.of();

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        List<LoraShare.Kind> r = LoraShare.from(adapter).rank(rank).writeTo(output);
        graph.forEach((base, out) -> dev.graft.adapters.LoraRuntime.baked(base,
                dev.graft.adapters.PeftAdapter.read(output), 1.0, Map.of(), out));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        out.printf("%-48s %6s %5s %11s %11s %10s%n", "KIND", "LAYERS", "RANK", "PARAMETERS", "SHARED", "MAX ERROR");
        for (LoraShare.Kind k : r) {
            out.printf(Locale.ROOT, "%-48s %6d %5d %11d %11d %10.4f%n", k.kind(), k.modules().size(), k.rank(),
                    k.parametersBefore(), k.parametersAfter(),
                    java.util.Arrays.stream(k.relativeError()).max().orElse(0));
        }
        out.println("wrote " + output);
        return 0;
    }
}
