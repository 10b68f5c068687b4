package dev.graft.regmean;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.InputGrams;
import dev.graft.exec.Execution;
import dev.graft.exec.Threads;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.LayerStages;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergedWeights;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntSupplier;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.DecompositionSolver;
import org.apache.commons.math3.linear.NonPositiveDefiniteMatrixException;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * RegMean (Jin et al., <i>Dataless Knowledge Fusion by Merging Weights of Language Models</i>, ICLR 2023). Each
 * affine layer ({@link AffineLayer}: {@code MatMul} or {@code Gemm} in either layout, or a 2-D {@code Conv} read as a
 * dense map on its patches, {@code in·kh·kw} features) of the merge is the regression
 * {@code W* = (Σᵢ Gᵢ)⁻¹ Σᵢ Gᵢ·Wᵢ} ({@code [in, out]} weights, {@code y = x·W}), which minimises
 * {@code Σᵢ ‖Xᵢ·W − Xᵢ·Wᵢ‖²}: {@code Gᵢ = XᵢᵀXᵢ} is the Gram matrix of the layer's inputs when model {@code i} runs
 * on its own task data ({@link InputGrams}), with its off-diagonal entries scaled by {@code α} (default 0.95, as
 * FusionBench; the paper tries 0.1 to 0.9), which keeps the sum well conditioned. Every other floating-point
 * tensor (biases, norms, embeddings, grouped or depthwise convolutions) is the plain average of the models'. The result has the first
 * model's graph. A sum of Grams that is not positive definite (a feature no model's data ever moves) gets a ridge
 * of {@code 10⁻⁶} of its mean diagonal. With {@link #mergedInputs} it is RegMean++: the Grams of each stage come
 * from the merged model's inputs, stage by stage.
 *
 * <pre>{@code
 * RegMean.merge(List.of(a, b)).calibration(List.of(dataA, dataB)).writeTo(out);
 * }</pre>
 */
public final class RegMean {
    /**
     * What a merge did: the dense weights regressed, how many other tensors were averaged, and the passes made over
     * each model's data (RegMean: as many as the Grams need under half the memory budget; RegMean++: one per stage).
     */
    public record Report(List<String> models, double alpha, List<String> regressed, int averaged, int passes,
                         List<String> files) {
    }

    private final List<Path> models;
    private List<Calibration> data;
    private double alpha = 0.95;
    private boolean mergedInputs;

    private RegMean(List<Path> models) {
        this.models = List.copyOf(models);
    }

    /** Merges {@code models} (the same architecture); the result has the first one's graph. */
    public static RegMean merge(List<Path> models) {
        return new RegMean(models);
    }

    /**
     * Each model's own data, in the models' order (unlabelled: only the layers' inputs are observed).
     *
     * @throws InvalidSettingException if there is not one calibration per model
     */
    public RegMean calibration(List<Calibration> perModel) {
        if (perModel.size() != models.size()) {
            throw new InvalidSettingException("RegMean needs one calibration per model: " + models.size()
                    + " models, " + perModel.size() + " calibrations");
        }
        this.data = List.copyOf(perModel);
        return this;
    }

    /**
     * The scale of the Grams' off-diagonal entries, in (0, 1]; 1 is the plain regression.
     *
     * @throws InvalidSettingException if {@code a} is not in (0, 1]
     */
    public RegMean alpha(double a) {
        if (!(a > 0 && a <= 1)) {
            throw new InvalidSettingException("alpha must be in (0, 1], got " + a);
        }
        this.alpha = a;
        return this;
    }

    /**
     * RegMean++ (Nguyen et al., 2025) when {@code merged} is true: each layer's Grams come from the merged model's own
     * inputs rather than each model's. The tensors that are averaged are merged first; then the layers stage by stage
     * ({@link LayerStages}: a numbered layer, such as a transformer block, at a time where the model has numbered
     * layers, else each layer in graph order). For model {@code i}, a stage's inputs are those of model {@code i}'s own stage fed by
     * everything merged so far (given to ONNX Runtime in memory), so each regression sees what the merged model will
     * really feed it. One pass over each model's data per stage.
     */
    public RegMean mergedInputs(boolean merged) {
        this.mergedInputs = merged;
        return this;
    }

    /** Runs the merge under {@link Execution#defaults()}; see {@link #writeTo(Path, Execution)}. */
    public Report writeTo(Path target) {
        return writeTo(target, Execution.defaults());
    }

    /**
     * Writes the merge to {@code target}, atomically, one tensor at a time under {@code execution}'s budget: each
     * model's Grams are gathered on its data in passes, as many layers per pass as half the budget holds
     * ({@code 8·features²} bytes per distinct layer input and model), and dropped once their layers are written.
     *
     * @throws InvalidSettingException      if no calibration was given
     * @throws dev.graft.IncompatibleModelsException naming the file and tensor where the models differ
     * @throws GraftException               if a model cannot be read or run, or the output cannot be written
     */
    public Report writeTo(Path target, Execution execution) {
        try (Opened o = open()) {
            Planned p = plan(o.models(), execution);
            Rewriter.Result result = Rewriter.write(p.rewrite(), target, execution);
            return new Report(models.stream().map(Path::toString).toList(), alpha, p.regressed(), p.averaged(),
                    p.passes().getAsInt(),
                    result.files().names());
        }
    }

    /**
     * The merge computed in memory (the first model's file and the merged values), for evaluating it without a file.
     *
     * @throws InvalidSettingException if no calibration was given
     * @throws GraftException          if a model cannot be read or run
     */
    public MergedWeights inMemory(Execution execution) {
        try (Opened o = open()) {
            return new MergedWeights(models.get(0), Rewriter.compute(plan(o.models(), execution).rewrite(),
                    execution));
        }
    }

    private record Opened(List<OnnxModel> models) implements AutoCloseable {
        @Override
        public void close() {
            models.forEach(OnnxModel::close);
        }
    }

    private Opened open() {
        if (data == null) {
            throw new InvalidSettingException("RegMean needs calibration data: call calibration(...)");
        }
        Opened o = new Opened(new ArrayList<>());
        try {
            for (Path p : models) {
                o.models().add(OnnxModel.open(p));
            }
            return o;
        } catch (RuntimeException e) {
            o.close();
            throw e;
        }
    }

    /** The rewrite, and the passes over the data it made once it has run. */
    private record Planned(RewritePlan rewrite, List<String> regressed, int averaged,
                           IntSupplier passes) {
    }

    private Planned plan(List<OnnxModel> opened, Execution execution) {
        OnnxModel reference = opened.get(0);
        MergePlan plan = MergePlan.of(opened);
        Map<String, AffineLayer> dense = new LinkedHashMap<>();
        for (AffineLayer l : AffineLayer.findCovered(reference)) {
            dense.put(l.weight(), l);
        }
        Fitted stages = mergedInputs ? stageByStage(opened, plan, dense) : null;
        Map<String, float[]> fitted = stages == null ? null : stages.values();
        Set<String> mergedNames = new HashSet<>();
        plan.steps().stream().filter(MergePlan.Step::merge).forEach(s -> mergedNames.add(s.first().name()));
        GramPasses<DecompositionSolver> grams = new GramPasses<>(models, data, dense.values().stream()
                .filter(l -> mergedNames.contains(l.weight())).toList(), Math.max(1, execution.memoryBudget() / 2));
        RewritePlan.Builder rewrite = RewritePlan.of("regmean", reference.proto()).companionsOf(reference.file())
                .parameter("alpha", Double.toString(alpha)).parameter("inputs", mergedInputs ? "merged" : "own");
        opened.forEach(rewrite::input);
        List<String> regressed = new ArrayList<>();
        int averaged = 0;
        for (MergePlan.Step step : plan.steps()) {
            Weight ref = step.first();
            if (!step.merge()) {
                rewrite.copy(ref);
                continue;
            }
            List<Weight> inputs = step.sources(); // each model's weight, paired by name or by module and role
            long n = ref.elementCount();
            AffineLayer layer = dense.get(ref.name());
            if (fitted != null) {
                float[] values = fitted.get(ref.name());
                rewrite.compute(OutputTensor.like(ref, ref.type(), () -> values), 4L * n);
            } else if (layer != null) {
                rewrite.compute(OutputTensor.like(ref, ref.type(), () -> {
                    float[] values = regressed(layer, inputs, grams.grams(layer),
                            grams.solver(layer, g -> solver(g, layer.features(), layer.weight())));
                    grams.done(layer);
                    return values;
                }),
                        4L * n * (models.size() + 6)
                                + 4L * layer.features() * layer.features() * (models.size() + 2));
            } else {
                rewrite.compute(OutputTensor.like(ref, ref.type(), () -> average(inputs)),
                        4L * n * (models.size() + 1));
            }
            if (layer != null) {
                regressed.add(ref.name());
            } else {
                averaged++;
            }
        }
        return new Planned(rewrite.build(), regressed, averaged, stages == null ? grams::passes : stages::stages);
    }

    /**
     * RegMean++: every merged tensor. The tensors that are not regressed are averaged first; then the dense layers
     * stage by stage ({@link LayerStages}), each regressed on the Grams of its inputs when each model runs with
     * everything merged so far in place of its own tensors.
     */
    /** RegMean++'s merged tensors, and the stages (passes over the data) it took. */
    private record Fitted(Map<String, float[]> values, int stages) {
    }

    private Fitted stageByStage(List<OnnxModel> opened, MergePlan plan, Map<String, AffineLayer> dense) {
        Map<String, float[]> merged = new LinkedHashMap<>();
        // what each model is given in memory, under its own names for the weights (exports may number them apart)
        List<Map<String, ModelRunner.Input>> earlier = new ArrayList<>();
        opened.forEach(m -> earlier.add(new LinkedHashMap<>()));
        Map<String, List<Weight>> inputs = new LinkedHashMap<>();
        for (MergePlan.Step step : plan.steps()) {
            Weight ref = step.first();
            if (step.merge()) {
                inputs.put(ref.name(), step.sources());
                if (!dense.containsKey(ref.name())) {
                    merged.put(ref.name(), average(inputs.get(ref.name())));
                    given(earlier, inputs.get(ref.name()), merged.get(ref.name()));
                }
            }
        }
        List<AffineLayer> layers = dense.values().stream().filter(l -> inputs.containsKey(l.weight())).toList();
        List<List<AffineLayer>> stages = LayerStages.of(opened.get(0), layers);
        for (List<AffineLayer> stage : stages) {
            List<InputGrams> grams = new ArrayList<>();
            for (int i = 0; i < models.size(); i++) {
                grams.add(InputGrams.of(models.get(i), earlier.get(i), stage, data.get(i)));
            }
            // keyed by the Gram arrays themselves: layers reading one value share them, and their solver
            Map<List<double[]>, DecompositionSolver> solvers = new HashMap<>();
            for (AffineLayer l : stage) {
                List<double[]> g = grams.stream().map(x -> x.of(l.weight())).toList();
                merged.put(l.weight(), regressed(l, inputs.get(l.weight()), g,
                        solvers.computeIfAbsent(g, k -> solver(k, l.features(), l.weight()))));
            }
            for (AffineLayer l : stage) {
                given(earlier, inputs.get(l.weight()), merged.get(l.weight()));
            }
        }
        return new Fitted(merged, stages.size());
    }

    /**
     * Adds merged {@code values} to what ONNX Runtime is given in memory in place of each model's weight
     * ({@code weights}, one per model; float32 tensors only).
     */
    private static void given(List<Map<String, ModelRunner.Input>> earlier, List<Weight> weights, float[] values) {
        for (int i = 0; i < weights.size(); i++) {
            Weight w = weights.get(i);
            if (w.type() == ElementType.FLOAT) {
                earlier.get(i).put(w.name(), ModelRunner.Input.of(values, w.shape()));
            }
        }
    }

    /** {@code W*} of one layer, in its stored layout. */
    private float[] regressed(AffineLayer layer, List<Weight> weights, List<double[]> grams,
                              DecompositionSolver solver) {
        int in = layer.features();
        int out = layer.out();
        // Σᵢ Gᵢ·Wᵢ as one product in ONNX Runtime: [G₁ | G₂ | …] (in × n·in, off-diagonals scaled) times the
        // stacked [in, out] weights, given transposed ([out, n·in], each model's weight in [out, in] layout)
        int n = weights.size();
        float[] stackedGrams = new float[in * n * in];
        float[] stackedWeights = new float[out * n * in];
        for (int i = 0; i < n; i++) {
            double[] g = grams.get(i);
            for (int r = 0; r < in; r++) {
                for (int k = 0; k < in; k++) {
                    stackedGrams[(r * n + i) * in + k] = (float) scaled(g, r, k, in);
                }
            }
            float[] w = weights.get(i).toFloats();
            for (int c = 0; c < out; c++) {
                for (int r = 0; r < in; r++) {
                    stackedWeights[(c * n + i) * in + r] = layer.outIn() ? w[c * in + r] : w[r * out + c];
                }
            }
        }
        float[] sum;
        try (MatrixProducts products = new MatrixProducts(Threads.modelRuns())) {
            sum = products.timesTransposed(stackedGrams, in, n * in, stackedWeights, out);
        }
        double[][] rhs = new double[in][out];
        for (int r = 0; r < in; r++) {
            for (int c = 0; c < out; c++) {
                rhs[r][c] = sum[r * out + c];
            }
        }
        RealMatrix solved = solver.solve(new Array2DRowRealMatrix(rhs, false));
        float[] stored = new float[in * out];
        for (int r = 0; r < in; r++) {
            for (int c = 0; c < out; c++) {
                stored[layer.outIn() ? c * in + r : r * out + c] = (float) solved.getEntry(r, c);
            }
        }
        return stored;
    }

    /** The Cholesky solver of {@code Σᵢ Gᵢ} (off-diagonals scaled), with a small ridge if it is singular. */
    private DecompositionSolver solver(List<double[]> grams, int in, String weight) {
        double[][] sum = new double[in][in];
        for (double[] g : grams) {
            for (int r = 0; r < in; r++) {
                for (int k = 0; k < in; k++) {
                    sum[r][k] += scaled(g, r, k, in);
                }
            }
        }
        try {
            return new CholeskyDecomposition(new Array2DRowRealMatrix(sum, false)).getSolver();
        } catch (NonPositiveDefiniteMatrixException e) {
            double trace = 0;
            for (int r = 0; r < in; r++) {
                trace += sum[r][r];
            }
            double ridge = Math.max(1e-6 * trace / in, Double.MIN_NORMAL);
            for (int r = 0; r < in; r++) {
                sum[r][r] += ridge;
            }
            try {
                return new CholeskyDecomposition(new Array2DRowRealMatrix(sum, false)).getSolver();
            } catch (NonPositiveDefiniteMatrixException again) {
                throw new GraftException(models.get(0), weight, "the summed Gram matrix of this layer's inputs is "
                        + "not positive definite even with a ridge; the calibration data may be empty or non-finite",
                        again);
            }
        }
    }

    /** Entry {@code (r, k)} of a Gram with its off-diagonal entries scaled by {@code α}. */
    private double scaled(double[] g, int r, int k, int in) {
        double v = g[r * in + k];
        return r == k ? v : alpha * v;
    }

    private static float[] average(List<Weight> weights) {
        float[] sum = weights.get(0).toFloats();
        for (int i = 1; i < weights.size(); i++) {
            float[] w = weights.get(i).toFloats();
            for (int k = 0; k < sum.length; k++) {
                sum[k] += w[k];
            }
        }
        for (int k = 0; k < sum.length; k++) {
            sum[k] /= weights.size();
        }
        return sum;
    }
}
