package dev.graft.cli;

import dev.graft.ConvertBuilder;
import dev.graft.Graft;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft convert IN OUT [--dtype fp32|fp16|bf16] [--external-data|--inline]}. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Rewrite a model: store weights as another float type, move them to or from external data.")
final class ConvertCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IN")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT")
    Path out;

    @Mixin
    WriteOptionsMixin write;

    @Override
    public Integer call() {
        ConvertBuilder b = Graft.convert(in).layout(write.layout());
        if (write.elementType() != null) {
            b.dtype(write.elementType());
        }
        ConvertBuilder.Report r;
        try (Output.Progress progress = new Output.Progress("convert", write.json)) {
            r = b.progress(progress).writeTo(out);
        }
        PrintWriter w = spec.commandLine().getOut();
        if (write.json) {
            Output.json(w, r);
        } else {
            w.printf("wrote %s (%s, dtype %s, layout %s): %d tensors converted, %d copied, %.2f s%n",
                    String.join(" + ", r.outputs()), Output.bytes(r.bytesWritten()), r.dtype(), r.layout(),
                    r.converted(), r.copied(), r.seconds());
        }
        return 0;
    }
}
