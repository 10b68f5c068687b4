package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.eval.Candidate;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.exec.TensorJob;
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
 * as two ONNX models written once: a mixer, which computes each weight some fine-tune changes,
 * {@code θ₀ + Σ_t c[t·B + b]·τ_t}, from a coefficient input ({@link #INPUT}, {@code [tasks·blocks]}) and holds the
 * base weights and task vectors {@code τ_t = θ_t − θ₀}; and the base's graph reading those weights as graph inputs.
 * One session on each serves every candidate: a candidate is one run of the mixer, whose outputs ONNX Runtime
 * keeps and feeds to every run of the network on the candidate's data ({@link ModelRunner.Kept}), with no file
 * written, no session built and no weight copied through Java. (Measured on bge-small with five task vectors, in
 * the README: mixing inside the network's graph instead recomputes the weights every batch, and a session per
 * candidate pays for building it.) Models are paired as merges pair them ({@link MergePlan}: by name, else by
 * module and role); the base's graph is the template. Float32 weights only. A candidate is written as the recipe
 * that merges it ({@link SearchRecipe}).
 */
public final class CoefficientModel implements SearchSpace {
    /** The graph input the coefficients are fed to. */
    public static final String INPUT = "graft_coefficients";

    /** A weight the coefficients mix: its weight in the base and in each fine-tune, and which fine-tunes change it. */
    private record Mixed(Weight base, List<Weight> tuned, boolean[] changed) {
    }

    private final Path base;
    private final List<Path> models;
    private final List<OnnxModel> opened;
    private final int tasks;
    private final CoefficientBlocks blocks;
    private final Map<String, Mixed> mixed;
    private final Path file;
    private final ModelRunner mixer;
    private final Candidate.Session session;

    private CoefficientModel(Path base, List<Path> models, List<OnnxModel> opened, int tasks, CoefficientBlocks blocks,
                             Map<String, Mixed> mixed, Path file, ModelRunner mixer, Candidate.Session session) {
        this.base = base;
        this.models = List.copyOf(models);
        this.opened = opened;
        this.tasks = tasks;
        this.blocks = blocks;
        this.mixed = mixed;
        this.file = file;
        this.mixer = mixer;
        this.session = session;
    }

    /**
     * The candidates between {@code base} and the fine-tunes {@code models} at {@code granularity}, their network
     * written to {@code file} and their mixer beside it ({@code NAME-mixer.onnx}, holding the mixed weights' base
     * values and task vectors), both opened.
     *
     * @throws UnsupportedModelException naming the file and tensor if a fine-tune changes a weight that is not float32
     */
    public static CoefficientModel build(Path base, List<Path> models, CoefficientBlocks.Granularity granularity,
                                         Path file) {
        return build(base, models, granularity, 1, file);
    }

    /** {@link #build(Path, List, CoefficientBlocks.Granularity, Path)} with {@code groups} layer groups for group-wise. */
    public static CoefficientModel build(Path base, List<Path> models, CoefficientBlocks.Granularity granularity,
                                         int groups, Path file) {
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
                    groups, tiedTo);
            Path mixerFile = file.resolveSibling(file.getFileName().toString().replaceFirst("\\.onnx$", "")
                    + "-mixer.onnx");
            writeMixer(template, mixed, blocks, models.size(), mixerFile);
            writeNetwork(template, mixed, file);
            ModelRunner mixer = new ModelRunner(mixerFile, dev.graft.exec.Threads.modelRuns());
            try {
                Candidate.Session session = Candidate.of("candidates", file).open();
                return new CoefficientModel(base, models, opened, models.size(), blocks, mixed, file, mixer, session);
            } catch (RuntimeException e) {
                mixer.close();
                throw e;
            }
        } catch (RuntimeException e) {
            opened.forEach(OnnxModel::close);
            throw e;
        }
    }

    /** The mixer: coefficients in, each mixed weight out ({@code NAME/graft_mix}). */
    private static void writeMixer(OnnxModel template, Map<String, Mixed> mixed, CoefficientBlocks blocks, int tasks,
                                   Path file) {
        GraphEdit edit = GraphEdit.of(template).clearGraph().addFloatInput(INPUT, (long) tasks * blocks.size());
        List<TensorJob> jobs = new ArrayList<>();
        mixed.forEach((name, m) -> {
            List<String> names = new ArrayList<>();
            List<Long> indexes = new ArrayList<>();
            jobs.add(TensorJob.passThrough(OutputTensor.copyOf(m.base())));
            for (int t = 0; t < tasks; t++) {
                if (m.changed()[t]) {
                    String delta = name + "/graft_delta_" + t;
                    names.add(delta);
                    indexes.add((long) t * blocks.size() + blocks.blockOf().get(name));
                    Weight tuned = m.tuned().get(t);
                    OutputTensor d = OutputTensor.of(delta, ElementType.FLOAT, m.base().shape(), () -> {
                        float[] v = tuned.toFloats();
                        float[] b = m.base().toFloats();
                        for (int i = 0; i < v.length; i++) {
                            v[i] -= b[i];
                        }
                        return v;
                    });
                    jobs.add(new TensorJob(d, 2 * d.byteLength()));
                }
            }
            edit.mixWeight(name, mixedName(name), INPUT, indexes.stream().mapToLong(Long::longValue).toArray(), names)
                    .addFloatOutput(mixedName(name), m.base().shape());
        });
        RewritePlan.Builder plan = RewritePlan.of("search-mixer", edit.build()).input(template);
        jobs.forEach(plan::add);
        Rewriter.write(plan.build(), file, Execution.defaults());
    }

    /** The base's graph with each mixed weight read from the graph input {@code NAME/graft_mix}. */
    private static void writeNetwork(OnnxModel template, Map<String, Mixed> mixed, Path file) {
        GraphEdit edit = GraphEdit.of(template);
        mixed.forEach((name, m) -> edit.readAsInput(name, mixedName(name), m.base().shape()));
        RewritePlan.Builder plan = RewritePlan.of("search-candidates", edit.build()).input(template);
        template.initializers().stream().filter(w -> !mixed.containsKey(w.name())).forEach(plan::copy);
        Rewriter.write(plan.build(), file, Execution.defaults());
    }

    private static String mixedName(String weight) {
        return weight + "/graft_mix";
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
    @Override
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

    @Override
    public double[] initial() {
        return filled(0.3);
    }

    @Override
    public double[] lower() {
        return filled(0);
    }

    @Override
    public double[] upper() {
        return filled(1);
    }

    private double[] filled(double v) {
        double[] x = new double[size()];
        java.util.Arrays.fill(x, v);
        return x;
    }

    @Override
    public String describe() {
        return blocks.granularity().name().toLowerCase(java.util.Locale.ROOT) + "-wise coefficients"
                + (blocks.granularity() == CoefficientBlocks.Granularity.GROUP ? " (" + blocks.size() + " groups)" : "");
    }

    /**
     * Writes candidate {@code c} as a {@code task_arithmetic} recipe ({@code θ₀ + Σ_t w_t·τ_t}, λ 1, not
     * normalized): a weight per model, or per tensor.
     */
    @Override
    public void writeRecipe(double[] c, Path file) {
        check(c);
        Path folder = file.toAbsolutePath().getParent();
        com.fasterxml.jackson.databind.node.ObjectNode r = SearchRecipe.tree().put("merge_method", "task_arithmetic")
                .put("base_model", SearchRecipe.path(base, folder));
        r.putObject("parameters").put("lambda", 1.0).put("normalize", false);
        com.fasterxml.jackson.databind.node.ArrayNode list = r.putArray("models");
        for (int t = 0; t < tasks; t++) {
            com.fasterxml.jackson.databind.node.ObjectNode parameters = list.addObject()
                    .put("model", SearchRecipe.path(models.get(t), folder)).putObject("parameters");
            if (blocks.granularity() == CoefficientBlocks.Granularity.TASK) {
                parameters.put("weight", c[t]);
            } else {
                Map<String, Double> perTensor = new LinkedHashMap<>();
                int task = t;
                blocks.blockOf().forEach((name, b) -> perTensor.put(name, c[task * blocks.size() + b]));
                parameters.set("weight", SearchRecipe.perTensor(perTensor, 0.0));
            }
        }
        SearchRecipe.write(r, "a coefficient search's best candidate (" + describe() + "): θ₀ + Σ weight·(θ_t − θ₀)",
                file);
    }


    /**
     * The open session running candidate {@code c}: its weights mixed once (one run of the mixer) and fed to every
     * run; close it after use (it frees the mixed weights, not the session).
     *
     * @throws InvalidSettingException if {@code c} does not have {@link #size()} entries
     */
    @Override
    public Candidate.Session session(double[] c) {
        return session.withKept(mixer.runKept(Map.of(INPUT, ModelRunner.Input.of(floats(c), c.length))));
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
            throw new InvalidSettingException(c.length + " coefficients given for the candidates of " + base
                    + ", which take " + tasks + " tasks × " + blocks.size() + " " + blocks.granularity().name()
                    .toLowerCase(java.util.Locale.ROOT) + " blocks = " + size());
        }
    }

    @Override
    public void close() {
        session.close();
        mixer.close();
        opened.forEach(OnnxModel::close);
    }
}
