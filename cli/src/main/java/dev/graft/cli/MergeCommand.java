package dev.graft.cli;

import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.merge.MergeMethods;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergeReport;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code graft merge --method linear --model A:0.5 --model B:0.5 -o OUT}. */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge models of identical structure, tensor by tensor, into one ONNX model.")
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--method", defaultValue = "linear", description = "merge method: linear (default)")
    String method;

    @Option(names = "--model", required = true, paramLabel = "FILE[:WEIGHT]",
            description = "a model and its weight (default 1); repeat for each model")
    List<String> models;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Mixin
    WriteOptionsMixin write;

    @Option(names = "--threads", description = "tensors merged at once (default: all cores)")
    Integer threads;

    @Override
    public Integer call() {
        MergeBuilder b = Graft.merge().method(method(method));
        for (String spec : models) {
            ModelArg m = ModelArg.parse(spec);
            b.model(m.file(), m.weight());
        }
        if (write.elementType() != null) {
            b.outputType(write.elementType());
        }
        b.layout(write.layout());
        if (threads != null) {
            b.threads(threads);
        }
        MergeReport r;
        try (Output.Progress progress = new Output.Progress("merge", write.json)) {
            r = b.progress(progress).writeTo(output);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (write.json) {
            Output.json(out, r);
        } else {
            print(out, r);
        }
        return 0;
    }

    static void print(PrintWriter out, MergeReport r) {
        out.printf("merged %d tensors of %d models with %s %s%n", r.merged(), r.inputs().size(), r.method(),
                r.parameters());
        for (MergeReport.Input in : r.inputs()) {
            out.printf("  %s weight %s sha256 %s%n", in.file(), in.weight(), in.sha256().substring(0, 16));
        }
        for (MergeReport.Unmerged u : r.unmerged()) {
            out.printf("  not merged: %s (%s)%n", u.tensor(), u.reason());
        }
        out.printf("wrote %s (%s) in %.2f s%n", String.join(" + ", r.outputs()), Output.bytes(r.bytesWritten()),
                r.seconds());
    }

    static MergeMethod method(String name) {
        return MergeMethods.create(name.toLowerCase(Locale.ROOT));
    }

    /** {@code FILE[:WEIGHT]}; the weight is whatever follows the last ':' if it parses as a number. */
    record ModelArg(Path file, double weight) {
        static ModelArg parse(String spec) {
            int colon = spec.lastIndexOf(':');
            if (colon > 0) {
                try {
                    return new ModelArg(Path.of(spec.substring(0, colon)), Double.parseDouble(spec.substring(colon + 1)));
                } catch (NumberFormatException e) {
                    // not a weight: the ':' belongs to the path
                }
            }
            return new ModelArg(Path.of(spec), 1.0);
        }
    }
}
