package dev.graft.cli;

import dev.graft.adapters.CheckpointImport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft import CHECKPOINT --template MODEL -o OUT}: a Hugging Face checkpoint onto an ONNX export. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = "Write a Hugging Face checkpoint (model.safetensors, or shards with their index) into an ONNX "
                + "export of its architecture: the template's graph with the checkpoint's weights, matched by name "
                + "or module, PyTorch's [out,in] transposed where the graph stores [in,out].")
final class ImportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CHECKPOINT", description = "a .safetensors file, a model.safetensors.index.json, or "
            + "their folder")
    Path checkpoint;

    @Option(names = "--template", required = true, paramLabel = "MODEL",
            description = "an ONNX export of the checkpoint's architecture")
    Path template;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        CheckpointImport.Report r = CheckpointImport.onto(template).from(checkpoint).writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        long transposed = r.mapped().stream().filter(CheckpointImport.Mapped::transposed).count();
        out.printf("%d initializers from %s (%d transposed from PyTorch's [out,in])%n", r.mapped().size(),
                r.checkpoint(), transposed);
        for (CheckpointImport.Mapped m : r.mapped()) {
            if (!m.initializer().equals(m.parameter())) {
                out.printf("  %s = %s%s%n", m.initializer(), m.parameter(), m.transposed() ? " (transposed)" : "");
            }
        }
        r.kept().forEach(k -> out.printf("  kept from the template (no such parameter): %s%n", k));
        r.unused().forEach(u -> out.printf("  not used (no such initializer): %s%n", u));
        out.printf("wrote %s%n", String.join(" + ", r.outputs()));
        return 0;
    }
}
