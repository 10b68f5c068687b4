package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.eval.Candidate;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.GraphEdit;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergedWeights;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The candidates of a coefficient search, {@code θ(c) = θ₀ + Σ_t Σ_b c_{t,b}·τ_{t,b}} ({@link CoefficientBlocks}),
 * as one ONNX model: each weight that some fine-tune changes is computed inside the graph from a coefficient input
 * ({@link #INPUT}, {@code [tasks·blocks]}) as {@code θ₀ + Σ_t c[t·B + b]·τ_t}, the base weights and the task
 * vectors {@code τ_t = θ_t − θ₀} being initializers written once. One ONNX Runtime session serves every
 * candidate: evaluating one feeds another coefficient vector, with no file written and no session built. The mix
 * costs {@code tasks × parameters} multiply-adds a run, little beside the network on a batch. Models are paired
 * as merges pair them ({@link MergePlan}: by name, else by module and role); the base's graph is the template.
 * Float32 weights only. A candidate is written as the recipe that merges it ({@link SearchRecipe}).
 */
public final class CoefficientModel implements AutoCloseable {
    /** The graph input the coefficients are fed to. */
    public static final String INPUT = "graft_coefficients";

    /** A weight the coefficients mix: its weight in the base and in each fine-tune, and which fine-tunes change it. */
    private record Mixed(Weight base, List<Weight> tuned, boolean[] changed) {
    }

    private final Path base;
    private final List<OnnxModel> opened;
    private final int tasks;
    private final CoefficientBlocks blocks;
    private final Map<String, Mixed> mixed;
    private final Path file;
    private final Candidate.Session session;

    private CoefficientModel(Path base, List<OnnxModel> opened, int tasks, CoefficientBlocks blocks,
                             Map<String, Mixed> mixed, Path file, Candidate.Session session) {
        this.base = base;
        this.opened = opened;
        this.tasks = tasks;
        this.blocks = blocks;
        this.mixed = mixed;
        this.file = file;
        this.session = session;
    }

    /**
     * The candidates between {@code base} and the fine-tunes {@code models} at {@code granularity}, their model
     * written to {@code file} (with its weights: the base and every task vector) and opened.
     *
     * @throws UnsupportedModelException naming the file and tensor if a fine-tune changes a weight that is not float32
     */
    public static CoefficientModel build(Path base, List<Path> models, CoefficientBlocks.Granularity granularity,
                                         Path file) {
        if (models.isEmpty()) {
            throw new InvalidSettingException("a coefficient search needs at least one fine-tuned model");
        }
        List<OnnxModel> opened = new ArrayList<>();
        try {
            opened.add(OnnxModel.open(base));
            for (Path m : models) {
                opened.add(OnnxModel.open(m));
            }
            OnnxModel template = opened.get(0);
            Map<String, Mixed> mixed = new LinkedHashMap<>();
            Map<String, String> tiedTo = new LinkedHashMap<>();
            for (MergePlan.Step s : MergePlan.of(opened).steps()) {
                if (!s.merge()) {
                    continue;
                }
                Weight w = s.first();
                boolean[] changed = new boolean[models.size()];
                boolean any = false;
                for (int t = 0; t < models.size(); t++) {
                    changed[t] = !s.sources().get(t + 1).bytes().equals(w.bytes());
                    any |= changed[t];
                }
                if (!any) {
                    continue;
                }
                if (w.type() != ElementType.FLOAT || s.quantized() != null) {
                    int t = 0;
                    while (!changed[t]) {
                        t++;
                    }
                    throw new UnsupportedModelException(models.get(t), s.sources().get(t + 1).name(), "is "
                            + (s.quantized() != null ? "part of a quantized weight" : w.type().displayName())
                            + " and differs from the base's; a coefficient search mixes float32 weights");
                }
                mixed.put(w.name(), new Mixed(w, s.sources().subList(1, s.sources().size()), changed));
                if (s.tie() != null) {
                    tiedTo.put(w.name(), s.tie().table());
                }
            }
            if (mixed.isEmpty()) {
                throw new InvalidSettingException("the fine-tuned models do not differ from the base " + base
                        + ": there is nothing to search");
            }
            CoefficientBlocks blocks = CoefficientBlocks.of(template, new ArrayList<>(mixed.keySet()), granularity,
                    tiedTo);
            write(template, mixed, blocks, models.size(), file);
            Candidate.Session session = Candidate.of("candidates", file).open();
            return new CoefficientModel(base, opened, models.size(), blocks, mixed, file, session);
        } catch (RuntimeException e) {
            opened.forEach(OnnxModel::close);
            throw e;
        }
    }

    private static void write(OnnxModel template, Map<String, Mixed> mixed, CoefficientBlocks blocks, int tasks,
                              Path file) {
        GraphEdit edit = GraphEdit.of(template).addFloatInput(INPUT, (long) tasks * blocks.size());
        List<OutputTensor> deltas = new ArrayList<>();
        mixed.forEach((name, m) -> {
            List<String> names = new ArrayList<>();
            List<Long> indexes = new ArrayList<>();
            for (int t = 0; t < tasks; t++) {
                if (m.changed()[t]) {
                    String delta = name + "/graft_delta_" + t;
                    names.add(delta);
                    indexes.add((long) t * blocks.size() + blocks.blockOf().get(name));
                    Weight tuned = m.tuned().get(t);
                    deltas.add(OutputTensor.of(delta, ElementType.FLOAT, m.base().shape(), () -> {
                        float[] d = tuned.toFloats();
                        float[] b = m.base().toFloats();
                        for (int i = 0; i < d.length; i++) {
                            d[i] -= b[i];
                        }
                        return d;
                    }));
                }
            }
            edit.mixWeight(name, INPUT, indexes.stream().mapToLong(Long::longValue).toArray(), names);
        });
        RewritePlan.Builder plan = RewritePlan.of("search-candidates", edit.build()).input(template);
        template.initializers().forEach(plan::copy);
        deltas.forEach(d -> plan.compute(d, 2 * d.byteLength()));
        Rewriter.write(plan.build(), file, Execution.defaults());
    }

    /** How the coefficients divide the task vectors. */
    public CoefficientBlocks blocks() {
        return blocks;
    }

    /** Fine-tuned models (tasks). */
    public int tasks() {
        return tasks;
    }

    /** Coefficients in all: tasks × blocks. */
    public int size() {
        return tasks * blocks.size();
    }

    /** The candidates' model file. */
    public Path file() {
        return file;
    }

    /** The base model (the template of merged models). */
    public Path base() {
        return base;
    }

    /**
     * The open session running candidate {@code c}: a view feeding {@code c} to every run.
     *
     * @throws IllegalArgumentException if {@code c} does not have {@link #size()} entries
     */
    public Candidate.Session session(double[] c) {
        return session.withInputs(Map.of(INPUT, ModelRunner.Input.of(floats(c), c.length)));
    }

    /** Candidate {@code c}'s mixed weights computed here, as a merge in memory would give them. */
    public MergedWeights weights(double[] c) {
        Map<String, float[]> out = new LinkedHashMap<>();
        mixed.forEach((name, m) -> out.put(name, mix(name, m, c)));
        return new MergedWeights(base, out);
    }

    /** {@code θ₀ + Σ_t c[t·B + b]·(θ_t − θ₀)}, summed in float64 per entry, as the graph does in float32. */
    private float[] mix(String name, Mixed m, double[] c) {
        check(c);
        float[] b = m.base().toFloats();
        double[] sum = new double[b.length];
        for (int i = 0; i < b.length; i++) {
            sum[i] = b[i];
        }
        int block = blocks.blockOf().get(name);
        for (int t = 0; t < tasks; t++) {
            if (m.changed()[t]) {
                float[] w = m.tuned().get(t).toFloats();
                double k = c[t * blocks.size() + block];
                for (int i = 0; i < w.length; i++) {
                    sum[i] += k * (w[i] - b[i]);
                }
            }
        }
        float[] out = new float[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = (float) sum[i];
        }
        return out;
    }

    private float[] floats(double[] c) {
        check(c);
        float[] f = new float[c.length];
        for (int i = 0; i < c.length; i++) {
            f[i] = (float) c[i];
        }
        return f;
    }

    private void check(double[] c) {
        if (c.length != size()) {
            throw new IllegalArgumentException(c.length + " coefficients for " + tasks + " tasks × "
                    + blocks.size() + " blocks");
        }
    }

    @Override
    public void close() {
        session.close();
        opened.forEach(OnnxModel::close);
    }
}
