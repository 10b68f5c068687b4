package dev.graft.pleas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
import dev.graft.align.Alignment;
import dev.graft.align.ModelPermuter;
import dev.graft.align.PermutationSpec;
import dev.graft.align.Permutations;
import dev.graft.data.Activations;
import dev.graft.data.Calibration;
import dev.graft.data.NpyArray;
import dev.graft.exec.Execution;
import dev.graft.onnx.OnnxModel;
import dev.graft.pleas.Pleas.LayerReport;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PleasTest {
    private static final Path INDEPENDENT = Path.of("../examples/recipes/independent");
    private static final Path MLP1 = INDEPENDENT.resolve("mlp_seed1.onnx");
    private static final Path MLP2 = INDEPENDENT.resolve("mlp_seed2.onnx");

    @TempDir
    Path dir;

    private static Calibration calibration() {
        return Calibration.npy(INDEPENDENT.resolve("calibration.npy"), "x", 64);
    }

    private static float[] logits(Path model, float[] x, int rows) {
        try (ModelRunner r = new ModelRunner(model, 1)) {
            return r.run(Map.of("x", ModelRunner.Input.of(x, rows, 64)), Set.of()).get("logits").values();
        }
    }

    /** Inputs the models were not calibrated on: the calibration rows reversed and mixed pairwise. */
    private static float[] freshInputs() {
        float[] c = NpyArray.read(INDEPENDENT.resolve("calibration.npy")).floats();
        float[] x = new float[c.length];
        int rows = c.length / 64;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < 64; k++) {
                x[r * 64 + k] = 0.5f * (c[(rows - 1 - r) * 64 + k] + c[((r * 7) % rows) * 64 + k]);
            }
        }
        return x;
    }

    private static void assertClose(float[] got, float[] want) {
        assertThat(got).hasSameSizeAs(want);
        for (int i = 0; i < want.length; i++) {
            assertThat(got[i]).as("output %d", i).isCloseTo(want[i], within(1e-3f + 1e-3f * Math.abs(want[i])));
        }
    }

    /** Each model's value {@code name} over the calibration data, rows stacked. */
    private static double[][] rows(Path model, String name) {
        List<float[]> batches = new java.util.ArrayList<>();
        int[] width = new int[1];
        try (Activations runs = Activations.of(model, Set.of(name))) {
            runs.run(calibration(), b -> {
                batches.add(b.output(0, name).values());
                long[] shape = b.output(0, name).shape();
                width[0] = (int) shape[shape.length - 1];
            }, dev.graft.exec.ProgressListener.NONE, "test");
        }
        int n = batches.stream().mapToInt(x -> x.length).sum() / width[0];
        double[][] out = new double[n][width[0]];
        int row = 0;
        for (float[] x : batches) {
            for (int r = 0; r < x.length / width[0]; r++, row++) {
                for (int k = 0; k < width[0]; k++) {
                    out[row][k] = x[r * width[0] + k];
                }
            }
        }
        return out;
    }

    /**
     * Fitted on the merged model's own inputs (identity pairing, 1.0×, every layer, a negligible ridge): the second
     * layer is the least-squares fit, with a bias column, of the two models' averaged outputs of that layer on what
     * the written merge's own first layer feeds it (read from the merge in ONNX Runtime, solved here by QR); fitted
     * on the originals' averaged inputs instead, it differs.
     */
    @Test
    void withMergedInputsEachLayerIsFittedOnWhatTheMergeFeedsIt() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(MLP1, MLP2).calibration(calibration()).matching(Pleas.Matching.IDENTITY)
                .fit(Pleas.Fit.ALL).ridge(1e-9).fitInputs(Pleas.FitInputs.MERGED).writeTo(merged);
        assertThat(r.fitInputs()).isEqualTo("merged");
        double[][] x = rows(merged, "/1/Relu_output_0");
        double[][] ya = rows(MLP1, "/2/Gemm_output_0");
        double[][] yb = rows(MLP2, "/2/Gemm_output_0");
        double[][] features = new double[x.length][33];
        double[][] targets = new double[x.length][32];
        for (int i = 0; i < x.length; i++) {
            System.arraycopy(x[i], 0, features[i], 0, 32);
            features[i][32] = 1;
            for (int k = 0; k < 32; k++) {
                targets[i][k] = 0.5 * (ya[i][k] + yb[i][k]);
            }
        }
        var expected = new org.apache.commons.math3.linear.SingularValueDecomposition(
                new org.apache.commons.math3.linear.Array2DRowRealMatrix(features)).getSolver()
                .solve(new org.apache.commons.math3.linear.Array2DRowRealMatrix(targets)); // [33, 32]
        float[] w;
        float[] bias;
        try (OnnxModel m = OnnxModel.open(merged)) {
            w = m.weight("2.weight").orElseThrow().toFloats(); // [out, in]
            bias = m.weight("2.bias").orElseThrow().toFloats();
        }
        // units the merge's first layer never turns on leave the weights open: compare what the layer computes
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < 32; o++) {
                double got = bias[o];
                double want = expected.getEntry(32, o);
                for (int k = 0; k < 32; k++) {
                    got += x[i][k] * w[o * 32 + k];
                    want += x[i][k] * expected.getEntry(k, o);
                }
                assertThat(got).as("sample %d output %d", i, o).isCloseTo(want, within(2e-3 * (1 + Math.abs(want))));
            }
        }
        Path originals = dir.resolve("originals.onnx");
        Pleas.merge(MLP1, MLP2).calibration(calibration()).matching(Pleas.Matching.IDENTITY).fit(Pleas.Fit.ALL)
                .ridge(1e-9).fitInputs(Pleas.FitInputs.ORIGINALS).writeTo(originals);
        try (OnnxModel m = OnnxModel.open(originals)) {
            float[] other = m.weight("2.weight").orElseThrow().toFloats();
            double differs = 0;
            for (int k = 0; k < w.length; k++) {
                differs = Math.max(differs, Math.abs(other[k] - w[k]));
            }
            assertThat(differs).isGreaterThan(1e-2);
        }
    }

    private Path shuffled(Path model) {
        PermutationSpec spec = Alignment.spec(model, false, ProbeOptions.defaults());
        Path shuffled = dir.resolve("shuffled.onnx");
        try (OnnxModel m = OnnxModel.open(model)) {
            ModelPermuter.write(m, Permutations.random(spec, 3), shuffled, Map.of());
        }
        return shuffled;
    }

    /** Merging a model with a shuffled copy of itself at 1.0× gives the model back (MLP and CNN). */
    @ParameterizedTest
    @ValueSource(strings = {"mlp_seed1.onnx", "cnn_seed1.onnx"})
    void aModelAndItsShuffledCopyMergeBackIntoTheModel(String name) {
        Path model = INDEPENDENT.resolve(name);
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(model, shuffled(model)).calibration(calibration()).width(1.0).ridge(1e-6)
                .writeTo(merged);
        assertThat(r.groups()).isNotEmpty().allSatisfy(g -> {
            assertThat(g.fixed()).isNull();
            assertThat(g.mergedWidth()).isEqualTo(g.width());
            assertThat(g.meanSimilarity()).isCloseTo(1.0, within(1e-5)); // over units that vary on the data
        });
        float[] x = freshInputs();
        assertClose(logits(merged, x, x.length / 64), logits(model, x, x.length / 64));
    }

    /** Units paired by weight matching recover a shuffled copy too; paired as they are, they are a naive average. */
    @Test
    void unitsMayBePairedByWeightsOrAsTheyAre() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(MLP1, shuffled(MLP1)).calibration(calibration()).matching(Pleas.Matching.WEIGHTS)
                .ridge(1e-6).writeTo(merged);
        assertThat(r.matching()).isEqualTo("weights");
        float[] x = freshInputs();
        assertClose(logits(merged, x, x.length / 64), logits(MLP1, x, x.length / 64));
        Pleas.Report identity = Pleas.merge(MLP1, shuffled(MLP1)).calibration(calibration())
                .matching(Pleas.Matching.IDENTITY).fit(Pleas.Fit.NONE).writeTo(merged);
        assertThat(identity.groups()).allSatisfy(g -> assertThat(g.meanSimilarity()).isLessThan(0.5));
    }

    /**
     * By default, models trained from different starts (seeds 1 and 2: unrelated weights) are matched by activations
     * and fitted everywhere, while a model and its fine-tune (the digits base and its mirrored-digits fine-tune) are
     * paired as they are, fitting the resizable layers.
     */
    @Test
    void defaultsDetectModelsThatShareAStart() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report independent = Pleas.merge(MLP1, MLP2).calibration(calibration()).writeTo(merged);
        assertThat(independent.weightCosine()).isLessThan(0.2);
        assertThat(independent.matching()).isEqualTo("activations (auto)");
        assertThat(independent.fit()).isEqualTo("all (auto)");
        Path digits = Path.of("../examples/recipes/digits");
        Pleas.Report related = Pleas.merge(digits.resolve("base.onnx"), digits.resolve("task_c.onnx"))
                .calibration(calibration()).writeTo(merged);
        assertThat(related.weightCosine()).isGreaterThan(Pleas.SHARED_START);
        assertThat(related.matching()).isEqualTo("identity (auto)");
        assertThat(related.fit()).isEqualTo("resizable (auto)");
    }

    /** At 2.0× nothing is merged: the merged model computes the average of both models' outputs, on any input. */
    @ParameterizedTest
    @ValueSource(strings = {"mlp", "cnn"})
    void atTwiceTheWidthTheMergeIsTheAveragedOutputEnsemble(String kind) {
        Path a = INDEPENDENT.resolve(kind + "_seed1.onnx");
        Path b = INDEPENDENT.resolve(kind + "_seed2.onnx");
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(a, b).calibration(calibration()).width(2.0).writeTo(merged);
        assertThat(r.groups()).isNotEmpty().allSatisfy(g -> {
            assertThat(g.mergedWidth()).isEqualTo(2 * g.width());
            assertThat(g.mergedPairs()).isZero();
        });
        float[] x = freshInputs();
        int rows = x.length / 64;
        float[] la = logits(a, x, rows);
        float[] lb = logits(b, x, rows);
        float[] want = new float[la.length];
        for (int i = 0; i < want.length; i++) {
            want[i] = 0.5f * (la[i] + lb[i]);
        }
        assertClose(logits(merged, x, rows), want);
    }

    /**
     * A budget too small for two layers' sums makes one pass over the data per group matched and per layer fitted
     * (counted from the progress reports), and the merge is the same, tensor for tensor, as in one pass.
     */
    @Test
    void aSmallMemoryBudgetTakesMorePassesAndMergesTheSame() {
        Path one = dir.resolve("one-pass.onnx");
        Path many = dir.resolve("many-passes.onnx");
        Map<String, Integer> reports = new java.util.HashMap<>();
        Pleas.Report r = Pleas.merge(MLP1, MLP2).calibration(calibration()).width(1.5).writeTo(one);
        Pleas.merge(MLP1, MLP2).calibration(calibration()).width(1.5).writeTo(many, Execution.defaults()
                .withMemoryBudget(1).withProgress((stage, done, total) -> reports.merge(stage, 1, Integer::sum)));
        int batches = calibration().batches().size();
        assertThat(reports.get("matching")).isEqualTo(batches * r.groups().size());
        assertThat(reports.get("fitting")).isEqualTo(batches * r.layers().size());
        try (OnnxModel a = OnnxModel.open(one); OnnxModel b = OnnxModel.open(many)) {
            assertThat(b.initializers()).hasSameSizeAs(a.initializers());
            for (var w : a.initializers()) {
                assertThat(b.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
    }

    /** The CNN's batch norms are folded into their convolutions, and the merged graph has none. */
    @Test
    void batchNormsAreFoldedIntoTheirConvolutions() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.merge(INDEPENDENT.resolve("cnn_seed1.onnx"), INDEPENDENT.resolve("cnn_seed2.onnx"))
                .calibration(calibration()).width(1.5).writeTo(merged);
        try (OnnxModel m = OnnxModel.open(merged)) {
            assertThat(m.proto().getGraph().getNodeList()).noneMatch(n -> n.getOpType().equals("BatchNormalization"));
            assertThat(m.proto().getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Conv")))
                    .allSatisfy(n -> assertThat(n.getInputCount()).isEqualTo(3));
        }
    }

    /** Keeping the heads apart at 2.0× gives one model with both models' outputs, each exact. */
    @ParameterizedTest
    @ValueSource(strings = {"mlp", "cnn"})
    void keptHeadsAtTwiceTheWidthReproduceEachModel(String kind) {
        Path a = INDEPENDENT.resolve(kind + "_seed1.onnx");
        Path b = INDEPENDENT.resolve(kind + "_seed2.onnx");
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(a, b).calibration(calibration()).width(2.0).keepLast(1).writeTo(merged);
        assertThat(r.outputs()).containsExactly("logits", "logits" + "_b");
        float[] x = freshInputs();
        int rows = x.length / 64;
        try (ModelRunner run = new ModelRunner(merged, 1)) {
            var out = run.run(Map.of("x", ModelRunner.Input.of(x, rows, 64)), Set.of());
            assertClose(out.get("logits").values(), logits(a, x, rows));
            assertClose(out.get("logits_b").values(), logits(b, x, rows));
        }
    }

    @Test
    void widthsBetweenAreAsAskedAndRefusedOutsideTheRange() {
        Pleas.Report r = Pleas.merge(MLP1, MLP2).calibration(calibration()).width(1.5).writeTo(dir.resolve("m.onnx"));
        assertThat(r.groups()).allSatisfy(g -> {
            assertThat(g.mergedWidth()).isEqualTo(48);
            assertThat(g.mergedPairs()).isEqualTo(16);
        });
        assertThat(r.layers()).hasSize(3).allSatisfy(l -> assertThat(l.relativeResidual()).isBetween(0.0, 0.1));
        try (OnnxModel m = OnnxModel.open(dir.resolve("m.onnx"))) {
            assertThat(m.weight("2.weight").orElseThrow().shape()).containsExactly(48, 48);
        }
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).width(2.5))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("between 1.0 and 2.0");
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).writeTo(dir.resolve("x.onnx")))
                .hasMessageContaining("calibration");
    }

    @Test
    void badRequestsAreRefusedNamingWhatIsWrongAndWriteNothing() {
        Path out = dir.resolve("x.onnx");
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).calibration(calibration()).keepLast(4).writeTo(out))
                .isInstanceOf(GraftException.class).hasMessageContaining("mlp_seed1.onnx")
                .hasMessageContaining("the model has 3");
        assertThatThrownBy(() -> Pleas.merge(MLP1, MLP2).calibration(calibration()).width("no such group", 1.5)
                .writeTo(out)).isInstanceOf(dev.graft.InvalidSettingException.class)
                .hasMessageContaining("no such group").hasMessageContaining("graft inspect --groups");
        assertThatThrownBy(() -> Pleas.merge(MLP1, INDEPENDENT.resolve("cnn_seed2.onnx")).calibration(calibration())
                .writeTo(out)).isInstanceOf(GraftException.class).hasMessageContaining("cnn_seed2.onnx");
        assertThat(out).doesNotExist();
        assertThat(dir).isEmptyDirectory();
    }

    private static Calibration sentences(int n) {
        return Calibration.text(Path.of("../examples/recipes/text/sentences.txt"),
                RealModels.bgeSmall().resolveSibling("bge-small-en-v1.5-tokenizer.json"), n, 64);
    }

    private static float[] hidden(Path model, Calibration data) {
        try (ModelRunner r = new ModelRunner(model, 2)) {
            return r.run(data.batches().get(0), Set.of()).get("last_hidden_state").values();
        }
    }

    /**
     * A transformer (bge-small) merged with a copy whose FFN units and attention heads are shuffled gives the model
     * back: FFN groups are matched by activations, heads and head dimensions merged whole by their permutation.
     */
    @Test
    void aTransformerAndItsShuffledCopyMergeBackIntoTheModel() {
        Path bge = RealModels.bgeSmall();
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(bge, shuffled(bge)).calibration(sentences(48)).fit(Pleas.Fit.RESIZABLE)
                .writeTo(merged);
        assertThat(r.groups()).filteredOn(g -> g.fixed() == null).hasSize(12)
                .allSatisfy(g -> assertThat(g.meanSimilarity()).isCloseTo(1.0, within(1e-4)));
        Calibration fresh = Calibration.text(Path.of("../examples/recipes/text/retrieval.tsv"),
                bge.resolveSibling("bge-small-en-v1.5-tokenizer.json"), 8, 64);
        assertClose(hidden(merged, fresh), hidden(bge, fresh));
    }

    /** bge with e5 at 1.5×: each FFN is 2304 wide, heads and the residual stream stay, and the model runs. */
    @Test
    void aTransformersFeedForwardWidthsGrowAndTheRestStays() {
        Path merged = dir.resolve("merged.onnx");
        Pleas.Report r = Pleas.merge(RealModels.bgeSmall(), RealModels.e5Small()).calibration(sentences(16))
                .width(1.5).fit(Pleas.Fit.RESIZABLE).writeTo(merged);
        assertThat(r.groups()).filteredOn(g -> g.fixed() == null).hasSize(12)
                .allSatisfy(g -> assertThat(g.mergedWidth()).isEqualTo(2304));
        assertThat(r.groups()).filteredOn(g -> g.fixed() != null).isNotEmpty()
                .allSatisfy(g -> assertThat(g.mergedWidth()).isEqualTo(g.width()));
        assertThat(r.layers()).filteredOn(LayerReport::fitted).hasSize(24);
        assertThat(r.parametersMerged() - r.parametersA()).isEqualTo(12L * 768 * (384 + 1 + 384));
        assertThat(hidden(merged, sentences(4))).hasSize(hidden(RealModels.bgeSmall(), sentences(4)).length);
    }
}
