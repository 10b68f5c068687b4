package dev.graft.cli;

import dev.graft.Graft;
import dev.graft.merge.Linear;
import dev.graft.plan.MergeReport;
import dev.graft.verify.OutputDifference;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code graft demo}: the main job on real models fetched through Maven. Averages bge-small-en-v1.5 and
 * e5-small-v2 (same architecture, related weights), runs the result in ONNX Runtime against both, and says
 * what it did.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Merge bge-small-en-v1.5 and e5-small-v2 (fetched from Maven Central at build time), verify"
                + " the result in ONNX Runtime, and print what was done.")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--models", paramLabel = "DIR",
            description = "folder with the unpacked models (default: the build's cli/target/models)")
    Path models;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT", defaultValue = "graft-demo/bge-e5-soup.onnx",
            description = "where to write the merged model (default ${DEFAULT-VALUE})")
    Path output;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Path dir = models != null ? models : Path.of(System.getProperty("graft.models.dir", "cli/target/models"));
        Path bge = dir.resolve("bge-small-en-v1.5.onnx");
        Path e5 = dir.resolve("e5-small-v2.onnx");
        for (Path p : new Path[] {bge, e5}) {
            if (!Files.isRegularFile(p)) {
                throw new IllegalStateException(p + " is missing: build with Maven first (./graft does), which"
                        + " fetches the models from Maven Central");
            }
        }
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        out.printf("1. merging %s and %s with weights 0.5 / 0.5 (linear, model soup)%n", bge.getFileName(),
                e5.getFileName());
        MergeReport r;
        try (Output.Progress progress = new Output.Progress("merge", false)) {
            r = Graft.merge().model(bge, 0.5).model(e5, 0.5).method(new Linear()).diagnostics(false)
                    .progress(progress).writeTo(output);
        }
        MergeCommand.print(out, r);
        out.println("2. running the merged model in ONNX Runtime against each input model on the same probe inputs");
        Verifier verifier = new Verifier(ProbeOptions.defaults());
        for (Path ref : new Path[] {bge, e5}) {
            VerifyReport v = verifier.verify(output, ref);
            for (OutputDifference d : v.differences()) {
                out.printf("  vs %-24s %s max abs diff %.3g, max rel diff %.3g, outputs finite: %s%n",
                        ref.getFileName(), d.output(), d.maxAbs(), d.maxRel(), v.allFinite());
            }
        }
        out.printf("done: %s is a valid ONNX model that ONNX Runtime loads and runs; inspect it with"
                + " './graft inspect %s'%n", output, output);
        return 0;
    }
}
