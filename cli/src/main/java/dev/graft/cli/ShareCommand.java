package dev.graft.cli;

import dev.graft.InvalidSettingException;
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

/**
 * {@code graft share ADAPTER | --base BASE --fine-tuned FT  --rank R [--groups G] -o DIR}: one LoRA factor shared
 * across layers (or groups of alike layers), a B per layer.
 */
@Command(name = "share", mixinStandardHelpOptions = true,
        description = "Fit a PEFT LoRA adapter in which the layers of each module kind share one A (a B per layer), "
                + "to the updates of an adapter or of a fine-tune against its base; written as a standard PEFT "
                + "adapter.")
final class ShareCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "ADAPTER", description = "a PEFT adapter folder")
    Path adapter;

    @Option(names = "--base", paramLabel = "BASE", description = "the base model of a fine-tune (with --fine-tuned)")
    Path base;

    @Option(names = "--fine-tuned", paramLabel = "FT", description = "a fine-tune of BASE whose update is shared")
    Path fineTuned;

    @Option(names = "--groups", defaultValue = "1",
            description = "shared factors per kind: layers are grouped by how alike their updates are (default 1)")
    int groups;

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
        if ((adapter == null) == (base == null || fineTuned == null) || adapter != null && (base != null
                || fineTuned != null)) {
            throw new InvalidSettingException("give either an ADAPTER folder or both --base and --fine-tuned");
        }
        LoraShare share = adapter != null ? LoraShare.from(adapter) : LoraShare.between(base, fineTuned);
        List<LoraShare.Kind> r = share.rank(rank).groups(groups).writeTo(output);
        graph.forEach((base, out) -> dev.graft.adapters.LoraRuntime.baked(base,
                dev.graft.adapters.PeftAdapter.read(output), 1.0, Map.of(), out));
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        out.printf("%-44s %-20s %5s %11s %11s %10s%n", "KIND", "LAYERS", "RANK", "PARAMETERS", "SHARED",
                "MAX ERROR");
        for (LoraShare.Kind k : r) {
            String layers = k.layers().stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
            out.printf(Locale.ROOT, "%-44s %-20s %5d %11d %11d %10.4f%n", k.kind(), layers, k.rank(),
                    k.parametersBefore(), k.parametersAfter(),
                    java.util.Arrays.stream(k.relativeError()).max().orElse(0));
        }
        out.println("wrote " + output);
        return 0;
    }
}
