package dev.graft.adapters;

import dev.graft.IncompatibleModelsException;
import dev.graft.UnsupportedModelException;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.PackedProjection;
import dev.graft.index.TiedWeights;
import dev.graft.index.WeightRole;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Hugging Face checkpoint ({@link Checkpoint}) written into an ONNX export of its architecture, the template: the
 * template's graph with the checkpoint's weights, so that fine-tunes that exist only as PyTorch checkpoints are
 * merged, evaluated or given adapters without exporting each one.
 *
 * <p>Each template initializer is matched to a parameter by name, else by what the graph says it is
 * ({@link GraphIndex}: module path and role, so TorchScript's anonymous {@code onnx::MatMul_NNN} of module
 * {@code model.layers.0.self_attn.q_proj} is {@code model.layers.0.self_attn.q_proj.weight}, a bias
 * {@code ….bias}); PyTorch's {@code [out, in]} Linear weights are transposed into MatMul's {@code [in, out]}; a head
 * tied to the embedding ({@link TiedWeights}) that the checkpoint leaves out is the embedding, transposed. Shapes
 * must agree. Initializers without a parameter keep the template's values and parameters without an initializer
 * are left out; the report lists both. A template with quantized weights is refused (import onto the float
 * export, then quantize).
 */
public final class CheckpointImport {
    /** An initializer filled from parameter {@code parameter}, transposed or not. */
    public record Mapped(String initializer, String parameter, boolean transposed) {
    }

    /** What the import did: every initializer filled, those kept from the template, the parameters not used. */
    public record Report(Path checkpoint, Path template, List<Mapped> mapped, List<String> kept, List<String> unused,
                         List<String> outputs) {
    }

    private final Path template;
    private Path checkpoint;

    private CheckpointImport(Path template) {
        this.template = template;
    }

    /** An import into {@code template}'s graph. */
    public static CheckpointImport onto(Path template) {
        return new CheckpointImport(template);
    }

    /** The checkpoint: a {@code .safetensors} file, a sharded index, or their folder. */
    public CheckpointImport from(Path checkpoint) {
        this.checkpoint = checkpoint;
        return this;
    }

    /**
     * Writes the template with the checkpoint's weights to {@code target}.
     *
     * @throws IncompatibleModelsException naming the parameter if its shape does not fit its initializer
     */
    public Report writeTo(Path target) {
        try (OnnxModel model = OnnxModel.open(template); Checkpoint ckpt = Checkpoint.open(checkpoint)) {
            if (!QuantizedMatMul.find(model).isEmpty()) {
                throw new UnsupportedModelException(template, QuantizedMatMul.find(model).get(0).codes().name(),
                        "is a quantized weight; import the checkpoint onto the float export, then quantize");
            }
            List<PackedProjection> packed = PackedProjection.find(model, GraphIndex.of(model));
            if (!packed.isEmpty()) {
                throw new UnsupportedModelException(template, packed.get(0).weight(), "packs "
                        + packed.get(0).parts().stream().map(PackedProjection.Part::module).toList()
                        + "; importing checkpoints onto packed projections is not supported yet: use an export with "
                        + "one weight per projection (Optimum's)");
            }
            Map<String, Mapped> mapping = map(model, ckpt);
            if (mapping.isEmpty()) {
                throw new IncompatibleModelsException(ckpt.source(), null, "has no parameter that fits an initializer "
                        + "of " + template + " by name or module (is it an export of this architecture?)");
            }
            RewritePlan.Builder plan = RewritePlan.of("checkpoint-import", model.proto()).input(model)
                    .parameter("checkpoint", checkpoint.getFileName().toString()).companionsOf(template);
            List<String> kept = new ArrayList<>();
            for (Weight w : model.initializers()) {
                Mapped m = mapping.get(w.name());
                if (m == null) {
                    plan.copy(w);
                    if (w.type().isFloatingPoint()) {
                        kept.add(w.name());
                    }
                    continue;
                }
                plan.add(new TensorJob(OutputTensor.like(w, w.type(), () -> {
                    float[] v = ckpt.floats(m.parameter());
                    return m.transposed() ? MatrixProducts.transpose(v, (int) w.shape()[1], (int) w.shape()[0]) : v;
                }), 8L * w.elementCount()));
            }
            Set<String> unused = new LinkedHashSet<>(ckpt.names());
            mapping.values().forEach(m -> unused.remove(m.parameter()));
            List<String> outputs = new ArrayList<>();
            Rewriter.Result r = Rewriter.write(plan.build(), target, Execution.defaults());
            r.files().files().forEach(f -> outputs.add(f.toString()));
            r.companions().forEach(f -> outputs.add(f.toString()));
            return new Report(ckpt.source(), template, List.copyOf(mapping.values()), kept, List.copyOf(unused),
                    outputs);
        }
    }

    /** Each floating-point initializer's parameter, in the template's order. */
    private static Map<String, Mapped> map(OnnxModel model, Checkpoint ckpt) {
        GraphIndex index = GraphIndex.of(model);
        Map<String, Mapped> out = new java.util.LinkedHashMap<>();
        for (Weight w : model.initializers()) {
            if (!w.type().isFloatingPoint()) {
                continue;
            }
            IndexedWeight iw = index.get(w.name()).orElseThrow();
            String parameter = ckpt.entry(w.name()).isPresent() ? w.name() : byModule(iw, ckpt);
            if (parameter != null) {
                out.put(w.name(), fit(w, parameter, ckpt, iw.role().storedInOut()));
            }
        }
        Map<String, String> tables = new HashMap<>();
        for (TiedWeights.Tie t : TiedWeights.of(model, index)) {
            tables.put(t.copy(), t.table());
        }
        for (Weight w : model.initializers()) {
            String table = tables.get(w.name());
            Mapped tableMapped = table == null ? null : out.get(table);
            if (w.type().isFloatingPoint() && !out.containsKey(w.name()) && tableMapped != null) {
                // a tied head the checkpoint leaves out: the embedding it copies
                out.put(w.name(), fit(w, tableMapped.parameter(), ckpt, index.get(w.name()).orElseThrow().role()
                        .storedInOut()));
            }
        }
        return out;
    }

    /** The parameter the graph says {@code w} is: its module's {@code weight} or {@code bias}, if present. */
    private static String byModule(IndexedWeight w, Checkpoint ckpt) {
        if (w.modulePath().isEmpty() || w.role() == WeightRole.UNKNOWN) {
            return null;
        }
        boolean bias = w.role() == WeightRole.BIAS || w.role() == WeightRole.NORM_BIAS;
        String name = w.modulePath() + (bias ? ".bias" : ".weight");
        return ckpt.entry(name).isPresent() ? name : null;
    }

    /**
     * {@code parameter} for initializer {@code w}: transposed if the graph stores {@code w} {@code [in, out]} (a
     * PyTorch Linear weight, or an embedding used as the head, is {@code [out, in]}, square ones too), else as it is.
     */
    private static Mapped fit(Weight w, String parameter, Checkpoint ckpt, boolean inOut) {
        long[] shape = ckpt.entry(parameter).orElseThrow().shape();
        if (inOut && shape.length == 2 && w.shape().length == 2 && shape[0] == w.shape()[1] && shape[1] == w.shape()[0]) {
            return new Mapped(w.name(), parameter, true);
        }
        if (!inOut && Arrays.equals(shape, w.shape())) {
            return new Mapped(w.name(), parameter, false);
        }
        throw new IncompatibleModelsException(ckpt.source(), parameter, "is " + Arrays.toString(shape)
                + " but the template's initializer '" + w.name() + "' is " + Arrays.toString(w.shape()));
    }
}
