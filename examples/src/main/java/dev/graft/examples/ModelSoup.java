package dev.graft.examples;

import dev.graft.Graft;
import dev.graft.merge.Linear;
import dev.graft.plan.MergeReport;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.nio.file.Path;

/**
 * Recipe: a model soup of two fine-tunes of the same architecture, written as ONNX and checked in ONNX
 * Runtime. Usage: {@code ModelSoup A.onnx B.onnx OUT.onnx [WEIGHT_OF_A]}.
 */
public final class ModelSoup {
    private ModelSoup() {
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: ModelSoup A.onnx B.onnx OUT.onnx [WEIGHT_OF_A]");
            System.exit(2);
        }
        Path a = Path.of(args[0]);
        Path b = Path.of(args[1]);
        Path out = Path.of(args[2]);
        double wa = args.length > 3 ? Double.parseDouble(args[3]) : 0.5;
        System.out.println(run(a, b, out, wa));
    }

    /** Merges {@code a} and {@code b} with weights {@code wa} and {@code 1 - wa}, and runs the result. */
    public static VerifyReport run(Path a, Path b, Path out, double wa) {
        MergeReport report = Graft.merge().model(a, wa).model(b, 1 - wa).method(new Linear()).writeTo(out);
        System.out.printf("merged %d tensors into %s%n", report.merged(), out);
        return new Verifier(ProbeOptions.defaults()).verify(out, a);
    }
}
