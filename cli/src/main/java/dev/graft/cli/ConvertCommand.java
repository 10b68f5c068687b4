package dev.graft.cli;

import dev.graft.ConvertBuilder;
import dev.graft.Graft;
import dev.graft.onnx.WriteOptions;
import dev.graft.tensor.ElementType;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
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

    @Option(names = "--dtype", paramLabel = "fp32|fp16|bf16", description = "element type of stored float weights")
    String dtype;

    @Option(names = "--external-data", description = "weights in OUT.data beside the model")
    boolean external;

    @Option(names = "--inline", description = "weights inside the model file (at most 2 GiB)")
    boolean inline;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        if (external && inline) {
            throw new IllegalArgumentException("--external-data and --inline exclude each other");
        }
        ConvertBuilder b = Graft.convert(in).layout(external ? WriteOptions.Layout.EXTERNAL
                : inline ? WriteOptions.Layout.INLINE : WriteOptions.Layout.AUTO);
        if (dtype != null) {
            b.dtype(ElementType.parseFloatType(dtype));
        }
        ConvertBuilder.Report r;
        try (Output.Progress progress = new Output.Progress("convert", json)) {
            r = b.progress(progress).writeTo(out);
        }
        PrintWriter w = spec.commandLine().getOut();
        if (json) {
            Output.json(w, r);
        } else {
            w.printf("wrote %s (%s, dtype %s, layout %s): %d tensors converted, %d copied, %.2f s%n",
                    String.join(" + ", r.outputs()), Output.bytes(r.bytesWritten()), r.dtype(), r.layout(),
                    r.converted(), r.copied(), r.seconds());
        }
        return 0;
    }
}
