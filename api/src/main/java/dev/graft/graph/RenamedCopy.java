package dev.graft.graph;

import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A model whose weights carry the names of the reference export's weights they pair with, for operations that
 * pair two models' weights by name (PLeaS): exporters number anonymous weights ({@code onnx::MatMul_N}) apart, so
 * the tied and untied exports of one architecture name the same module differently. Weights are paired as a merge
 * pairs them ({@link MergePlan}: by name, else by module and role); the copy renames them and the graph's reads of
 * them at once (a name may move to another weight), and moves every weight's bytes file to file.
 */
public final class RenamedCopy {
    private RenamedCopy() {
    }

    /**
     * {@code model} itself when its weights pair with {@code reference}'s under the same names; otherwise its copy,
     * written to {@code target}, with the reference's names.
     *
     * @throws dev.graft.IncompatibleModelsException naming the file and tensor when the two cannot be paired
     */
    public static Path of(Path reference, Path model, Path target) {
        try (OnnxModel r = OnnxModel.open(reference); OnnxModel m = OnnxModel.open(model)) {
            Map<String, String> renames = new HashMap<>();
            for (MergePlan.Renamed p : MergePlan.of(List.of(r, m)).renamed()) {
                renames.put(p.tensor(), p.pairedWith());
            }
            if (renames.isEmpty()) {
                return model;
            }
            RewritePlan.Builder plan = RewritePlan.of("rename", GraphEdit.of(m).renameInputs(renames).build())
                    .input(m).companionsOf(m.file());
            for (Weight w : m.initializers()) {
                String name = renames.get(w.name());
                if (name == null) {
                    plan.copy(w);
                } else {
                    plan.passThrough(OutputTensor.copyOf(w).named(name));
                }
            }
            Rewriter.write(plan.build(), target, Execution.defaults());
            return target;
        }
    }
}
