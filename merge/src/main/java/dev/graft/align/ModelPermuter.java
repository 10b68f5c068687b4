package dev.graft.align;

import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WrittenFiles;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;


/**
 * Writes a model with its weights permuted ({@link Permutations#apply}), everything else as it was: the same
 * graph, the same function when no group reaches a graph output. Weights no group touches are copied; the
 * others are read, permuted and written in their own element type (exact: permuting moves values, it does not
 * change them). Provenance records operation {@code align}.
 */
public final class ModelPermuter {
    private ModelPermuter() {
    }

    /** Writes {@code model} with {@code perms} applied to {@code target}, atomically. */
    public static WrittenFiles write(OnnxModel model, Permutations perms, Path target, Map<String, String> parameters) {
        Set<String> permuted = perms.spec().byWeight().keySet();
        RewritePlan.Builder plan = RewritePlan.of("align", model.proto()).input(model).parameters(parameters)
                .companionsOf(model.file());
        for (Weight w : model.initializers()) {
            if (permuted.contains(w.name()) && w.type().isFloatingPoint()) {
                plan.compute(OutputTensor.like(w, w.type(), () -> perms.apply(w.name(), w.shape(), w.toFloats())),
                        w.elementCount() * 8);
            } else {
                plan.copy(w);
            }
        }
        return Rewriter.write(plan.build(), target, Execution.defaults()).files();
    }
}
