package dev.graft.regmean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import dev.graft.testing.NpyFiles;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ModelRunner;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.QRDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * RegMean on the tiny MLP ({@code W1 [4, 8]} read by a MatMul, {@code W2 [3, 8]} by a Gemm with {@code transB}),
 * against least squares solved independently on the stacked inputs.
 */
class RegMeanTest {
    private static final int IN = TinyModels.IN;
    private static final int HIDDEN = TinyModels.HIDDEN;
    private static final int OUT = TinyModels.OUT;
    private static final int ROWS = 40;

    @TempDir
    Path dir;

    private static float[] inputs(long seed) {
        return TinyModels.random(new Random(seed), ROWS * IN);
    }

    private static Calibration data(float[] x) {
        return Calibration.of("x", List.of(Map.of("x", ModelRunner.Input.of(x, ROWS, IN))));
    }

    private static float[] weight(Path model, String name) {
        try (OnnxModel m = OnnxModel.open(model)) {
            return m.weight(name).orElseThrow().toFloats();
        }
    }

    @Test
    void aModelMergedWithItselfIsUnchanged() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path copy = TinyModels.save(TinyModels.mlp(3), dir.resolve("copy.onnx"));
        Path out = dir.resolve("merged.onnx");
        RegMean.Report r = RegMean.merge(List.of(a, copy)).calibration(List.of(data(inputs(1)), data(inputs(2))))
                .writeTo(out);
        assertThat(r.regressed()).containsExactly("W1", "W2");
        assertThat(r.averaged()).isEqualTo(2); // b1, b2
        assertThat(r.passes()).isEqualTo(1);
        for (String w : List.of("W1", "b1", "W2", "b2")) {
            assertThat(weight(out, w)).containsExactly(weight(a, w), within(1e-5f));
        }
        assertThat(new Verifier(ProbeOptions.defaults()).verify(out, a).maxAbs()).isLessThan(1e-4);
    }

    /** Under a budget too small for both layers' Grams, each layer gets its own pass, with the same result. */
    @Test
    void aSmallBudgetTakesMorePassesForTheSameMerge() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        List<Calibration> data = List.of(data(inputs(1)), data(inputs(2)));
        RegMean.Report roomy = RegMean.merge(List.of(a, b)).calibration(data).writeTo(dir.resolve("roomy.onnx"));
        RegMean.Report tight = RegMean.merge(List.of(a, b)).calibration(data).writeTo(dir.resolve("tight.onnx"),
                dev.graft.exec.Execution.defaults().withMemoryBudget(2 * 8 * IN * IN * 2));
        assertThat(roomy.passes()).isEqualTo(1);
        assertThat(tight.passes()).isEqualTo(2);
        for (String w : List.of("W1", "b1", "W2", "b2")) {
            assertThat(weight(dir.resolve("tight.onnx"), w)).containsExactly(weight(dir.resolve("roomy.onnx"), w));
        }
    }

    /** Model B's data never moves W1's inputs (all zeros), so W1 is A's; b1 is still the average. */
    @Test
    void withOneModelsDataOnlyALayerIsThatModels() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        Path out = dir.resolve("merged.onnx");
        RegMean.merge(List.of(a, b)).calibration(List.of(data(inputs(1)), data(new float[ROWS * IN]))).writeTo(out);
        assertThat(weight(out, "W1")).containsExactly(weight(a, "W1"), within(1e-4f));
        float[] b1 = weight(out, "b1");
        for (int j = 0; j < HIDDEN; j++) {
            assertThat(b1[j]).isCloseTo((weight(a, "b1")[j] + weight(b, "b1")[j]) / 2, within(1e-6f));
        }
    }

    /**
     * With α = 1 each layer is the least-squares fit of every model's outputs on its own inputs: {@code W1} on the
     * two models' calibration rows, {@code W2} (stored {@code [out, in]}) on their hidden activations, both
     * computed here in plain Java and solved by QR.
     */
    @Test
    void withAlphaOneEachLayerIsTheLeastSquaresFitOfAllModelsOutputs() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        float[] xa = inputs(1);
        float[] xb = inputs(2);
        Path out = dir.resolve("merged.onnx");
        RegMean.merge(List.of(a, b)).calibration(List.of(data(xa), data(xb))).alpha(1).writeTo(out);

        double[][] x = new double[2 * ROWS][IN];
        double[][] y1 = new double[2 * ROWS][HIDDEN];
        double[][] h = new double[2 * ROWS][HIDDEN];
        double[][] y2 = new double[2 * ROWS][OUT];
        List<Path> models = List.of(a, b);
        List<float[]> xs = List.of(xa, xb);
        for (int m = 0; m < 2; m++) {
            float[] w1 = weight(models.get(m), "W1"); // [in, hidden]
            float[] b1 = weight(models.get(m), "b1");
            float[] w2 = weight(models.get(m), "W2"); // [out, hidden]
            for (int s = 0; s < ROWS; s++) {
                int row = m * ROWS + s;
                for (int i = 0; i < IN; i++) {
                    x[row][i] = xs.get(m)[s * IN + i];
                }
                for (int j = 0; j < HIDDEN; j++) {
                    double v = 0;
                    for (int i = 0; i < IN; i++) {
                        v += x[row][i] * w1[i * HIDDEN + j];
                    }
                    y1[row][j] = v;
                    h[row][j] = Math.max(0, v + b1[j]);
                }
                for (int o = 0; o < OUT; o++) {
                    double v = 0;
                    for (int j = 0; j < HIDDEN; j++) {
                        v += h[row][j] * w2[o * HIDDEN + j];
                    }
                    y2[row][o] = v;
                }
            }
        }
        RealMatrix w1 = leastSquares(x, y1); // [in, hidden]
        RealMatrix w2 = leastSquares(h, y2); // [hidden, out]
        float[] merged1 = weight(out, "W1");
        float[] merged2 = weight(out, "W2");
        for (int i = 0; i < IN; i++) {
            for (int j = 0; j < HIDDEN; j++) {
                assertThat((double) merged1[i * HIDDEN + j]).isCloseTo(w1.getEntry(i, j), within(1e-3));
            }
        }
        for (int o = 0; o < OUT; o++) {
            for (int j = 0; j < HIDDEN; j++) {
                assertThat((double) merged2[o * HIDDEN + j]).isCloseTo(w2.getEntry(j, o), within(1e-3));
            }
        }
    }

    /**
     * RegMean++ with α = 1: layer 0 (W1) is RegMean's; layer 1 (W2) is the least-squares fit on the inputs that the
     * merged layer 0 (merged W1 and averaged b1) feeds it, each model's targets being its own W2 applied to them;
     * and that differs from RegMean's W2, fitted on each model's own hidden units. In memory as on file.
     */
    @Test
    void regMeanPlusPlusFitsEachLayerOnTheMergedModelsInputs() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        float[] xa = inputs(1);
        float[] xb = inputs(2);
        Path plain = dir.resolve("plain.onnx");
        Path plus = dir.resolve("plus.onnx");
        RegMean.merge(List.of(a, b)).calibration(List.of(data(xa), data(xb))).alpha(1).writeTo(plain);
        RegMean plusPlus = RegMean.merge(List.of(a, b)).calibration(List.of(data(xa), data(xb))).alpha(1)
                .mergedInputs(true);
        plusPlus.writeTo(plus);
        assertThat(weight(plus, "W1")).containsExactly(weight(plain, "W1"));
        float[] w1 = weight(plus, "W1");
        float[] b1 = weight(plus, "b1");
        double[][] h = new double[2 * ROWS][HIDDEN];
        double[][] y2 = new double[2 * ROWS][OUT];
        List<Path> models = List.of(a, b);
        List<float[]> xs = List.of(xa, xb);
        for (int m = 0; m < 2; m++) {
            float[] w2 = weight(models.get(m), "W2"); // [out, hidden]
            for (int s = 0; s < ROWS; s++) {
                int row = m * ROWS + s;
                for (int j = 0; j < HIDDEN; j++) {
                    double v = b1[j];
                    for (int i = 0; i < IN; i++) {
                        v += (double) xs.get(m)[s * IN + i] * w1[i * HIDDEN + j];
                    }
                    h[row][j] = Math.max(0, v);
                }
                for (int o = 0; o < OUT; o++) {
                    double v = 0;
                    for (int j = 0; j < HIDDEN; j++) {
                        v += h[row][j] * w2[o * HIDDEN + j];
                    }
                    y2[row][o] = v;
                }
            }
        }
        RealMatrix w2 = leastSquares(h, y2); // [hidden, out]
        float[] merged2 = weight(plus, "W2");
        double differs = 0;
        for (int o = 0; o < OUT; o++) {
            for (int j = 0; j < HIDDEN; j++) {
                assertThat((double) merged2[o * HIDDEN + j]).isCloseTo(w2.getEntry(j, o), within(1e-3));
                differs = Math.max(differs, Math.abs(merged2[o * HIDDEN + j] - weight(plain, "W2")[o * HIDDEN + j]));
            }
        }
        assertThat(differs).isGreaterThan(1e-2);
        assertThat(plusPlus.inMemory(dev.graft.exec.Execution.defaults()).weights().get("W2")).containsExactly(merged2);
    }

    /**
     * With α &lt; 1 the off-diagonal scaling is least squares with extra rows: per model, its inputs times √α and,
     * per feature k, a row √((1 − α)·Gᵢ[k][k])·e_k whose target is that times model i's row k of W1.
     */
    @Test
    void alphaIsLeastSquaresWithScaledInputsAndOneRowPerFeature() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        List<float[]> xs = List.of(inputs(1), inputs(2));
        double alpha = 0.6;
        Path out = dir.resolve("merged.onnx");
        RegMean.merge(List.of(a, b)).calibration(List.of(data(xs.get(0)), data(xs.get(1)))).alpha(alpha).writeTo(out);
        int rows = 2 * (ROWS + IN);
        double[][] x = new double[rows][IN];
        double[][] y = new double[rows][HIDDEN];
        List<Path> models = List.of(a, b);
        int at = 0;
        for (int m = 0; m < 2; m++) {
            float[] w1 = weight(models.get(m), "W1");
            float[] xm = xs.get(m);
            double[] diagonal = new double[IN];
            for (int s = 0; s < ROWS; s++, at++) {
                for (int i = 0; i < IN; i++) {
                    x[at][i] = Math.sqrt(alpha) * xm[s * IN + i];
                    diagonal[i] += (double) xm[s * IN + i] * xm[s * IN + i];
                }
                for (int j = 0; j < HIDDEN; j++) {
                    for (int i = 0; i < IN; i++) {
                        y[at][j] += x[at][i] * w1[i * HIDDEN + j];
                    }
                }
            }
            for (int k = 0; k < IN; k++, at++) {
                double scale = Math.sqrt((1 - alpha) * diagonal[k]);
                x[at][k] = scale;
                for (int j = 0; j < HIDDEN; j++) {
                    y[at][j] = scale * w1[k * HIDDEN + j];
                }
            }
        }
        RealMatrix expected = leastSquares(x, y);
        float[] merged = weight(out, "W1");
        for (int i = 0; i < IN; i++) {
            for (int j = 0; j < HIDDEN; j++) {
                assertThat((double) merged[i * HIDDEN + j]).isCloseTo(expected.getEntry(i, j), within(1e-3));
            }
        }
    }

    /**
     * A convolution is regressed as a dense map on its patches: with α = 1, the first convolution ({@code C1},
     * 3×3, pads 1, strides 2) is the least-squares fit, over both models' data, of each model's convolution output
     * on the input patches, both built here from the definition of a convolution; the depthwise one ({@code C2},
     * grouped) is averaged.
     */
    @Test
    void aConvolutionIsTheLeastSquaresFitOnItsPatches() {
        Path a = TinyModels.save(TinyModels.cnn(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.cnn(4), dir.resolve("b.onnx"));
        int samples = 6;
        int pixels = 2 * 5 * 5;
        List<float[]> xs = List.of(TinyModels.random(new Random(1), samples * pixels),
                TinyModels.random(new Random(2), samples * pixels));
        List<Calibration> data = xs.stream().map(x -> Calibration.of("x", List.of(Map.of("x",
                ModelRunner.Input.of(x, samples, 2, 5, 5))))).toList();
        Path out = dir.resolve("merged.onnx");
        RegMean.Report r = RegMean.merge(List.of(a, b)).calibration(data).alpha(1).writeTo(out);
        assertThat(r.regressed()).containsExactly("C1");
        assertThat(r.averaged()).isEqualTo(2); // c1, C2

        int features = 2 * 3 * 3;
        int rows = 2 * samples * 9; // 3×3 output positions per sample
        double[][] patches = new double[rows][features];
        double[][] y = new double[rows][3];
        List<Path> models = List.of(a, b);
        int row = 0;
        for (int m = 0; m < 2; m++) {
            float[] w = weight(models.get(m), "C1"); // [3, 2, 3, 3]
            float[] x = xs.get(m);
            for (int s = 0; s < samples; s++) {
                for (int p = 0; p < 3; p++) {
                    for (int q = 0; q < 3; q++, row++) {
                        for (int c = 0; c < 2; c++) {
                            for (int i = 0; i < 3; i++) {
                                for (int j = 0; j < 3; j++) {
                                    int yy = 2 * p - 1 + i;
                                    int xx = 2 * q - 1 + j;
                                    if (yy >= 0 && yy < 5 && xx >= 0 && xx < 5) {
                                        patches[row][(c * 3 + i) * 3 + j] = x[((s * 2 + c) * 5 + yy) * 5 + xx];
                                    }
                                }
                            }
                        }
                        for (int o = 0; o < 3; o++) {
                            for (int k = 0; k < features; k++) {
                                y[row][o] += w[o * features + k] * patches[row][k];
                            }
                        }
                    }
                }
            }
        }
        RealMatrix expected = leastSquares(patches, y); // [features, out]
        float[] merged = weight(out, "C1");
        for (int o = 0; o < 3; o++) {
            for (int k = 0; k < features; k++) {
                assertThat((double) merged[o * features + k]).isCloseTo(expected.getEntry(k, o), within(1e-3));
            }
        }
        float[] c2 = weight(out, "C2");
        for (int o = 0; o < 3; o++) {
            assertThat(c2[o]).isCloseTo((weight(a, "C2")[o] + weight(b, "C2")[o]) / 2, within(1e-6f));
        }
        Path plus = dir.resolve("plus.onnx"); // the only stage reads the model's input: RegMean++ agrees
        RegMean.merge(List.of(a, b)).calibration(data).alpha(1).mergedInputs(true).writeTo(plus);
        assertThat(weight(plus, "C1")).containsExactly(merged, within(1e-5f));
    }

    private static RealMatrix leastSquares(double[][] x, double[][] y) {
        return new QRDecomposition(new Array2DRowRealMatrix(x)).getSolver().solve(new Array2DRowRealMatrix(y));
    }

    /** The recipe form gives each model its own data and merges exactly as the API does. */
    @Test
    void aRecipeGivesEachModelItsOwnData() throws java.io.IOException {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        NpyFiles.write(dir.resolve("a.npy"), inputs(1), ROWS, IN);
        NpyFiles.write(dir.resolve("b.npy"), inputs(2), ROWS, IN);
        Path recipe = java.nio.file.Files.writeString(dir.resolve("regmean.yaml"), String.join("\n",
                "merge_method: regmean", "models:", "  - model: a.onnx", "    calibration: a.npy",
                "  - model: b.onnx", "    calibration: b.npy", "alpha: 0.5", ""));
        Object report = dev.graft.recipe.Recipes.read(recipe).run(dir.resolve("recipe.onnx"),
                dev.graft.exec.Execution.defaults());
        assertThat(((RegMean.Report) report).alpha()).isEqualTo(0.5);
        RegMean.merge(List.of(a, b)).calibration(List.of(data(inputs(1)), data(inputs(2)))).alpha(0.5)
                .writeTo(dir.resolve("api.onnx"));
        for (String w : List.of("W1", "b1", "W2", "b2")) {
            assertThat(weight(dir.resolve("recipe.onnx"), w)).containsExactly(weight(dir.resolve("api.onnx"), w));
        }
        java.nio.file.Files.writeString(recipe, "merge_method: regmean\nmodels: [a.onnx, b.onnx]\n");
        assertThatThrownBy(() -> dev.graft.recipe.Recipes.read(recipe))
                .isInstanceOf(dev.graft.RecipeException.class).hasMessageContaining("models[0]")
                .hasMessageContaining("own data");
        java.nio.file.Files.writeString(recipe, String.join("\n", "merge_method: regmean", "models:",
                "  - model: a.onnx", "    calibration: a.npy", "inputs: merged", ""));
        assertThat(((RegMean.Report) dev.graft.recipe.Recipes.read(recipe).run(dir.resolve("plus.onnx"),
                dev.graft.exec.Execution.defaults())).regressed()).containsExactly("W1", "W2");
        for (String bad : List.of("inputs: sideways", "alpha: 2")) {
            java.nio.file.Files.writeString(recipe, String.join("\n", "merge_method: regmean", "models:",
                    "  - model: a.onnx", "    calibration: missing.npy", bad, ""));
            assertThatThrownBy(() -> dev.graft.recipe.Recipes.read(recipe)).as(bad)
                    .isInstanceOf(dev.graft.RecipeException.class).hasMessageContaining(bad.split(":")[0]);
        }
    }

    @Test
    void badSettingsAreTypedErrors() {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(4), dir.resolve("b.onnx"));
        List<Path> both = List.of(a, b);
        assertThatThrownBy(() -> RegMean.merge(both).calibration(List.of(data(inputs(1)))))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("2 models, 1 calibrations");
        assertThatThrownBy(() -> RegMean.merge(both).alpha(0)).isInstanceOf(InvalidSettingException.class);
        assertThatThrownBy(() -> RegMean.merge(both).writeTo(dir.resolve("out.onnx")))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("calibration");
        assertThat(dir.resolve("out.onnx")).doesNotExist();
    }

    /**
     * RegMean pairs weights as merges do: the tied and untied TorchScript exports of one decoder (whose linear
     * weights are numbered apart) regress to that decoder, as any model with itself does, on its own inputs and on
     * the merged model's (RegMean++, which gives each model the merged values under its own names).
     */
    @Test
    void theTiedAndUntiedExportsOfOneDecoderRegressToIt() {
        Calibration text = Calibration.text(Decoders.DIR.resolve("licence_test.txt"),
                Decoders.DIR.resolve("tokenizer.json"), 8, 32);
        for (boolean mergedInputs : new boolean[] {false, true}) {
            Path out = dir.resolve("regmean-" + mergedInputs + ".onnx");
            RegMean.Report r = RegMean.merge(List.of(Decoders.model("optimum/base/model.onnx"),
                    Decoders.model("untied/model.onnx"))).calibration(List.of(text, text)).mergedInputs(mergedInputs)
                    .writeTo(out);
            assertThat(r.regressed()).as("merged inputs: %s", mergedInputs).hasSizeGreaterThanOrEqualTo(14);
            assertThat(Decoders.diffFromTorch(out, "base")).as("merged inputs: %s", mergedInputs).isLessThan(2e-3);
        }
    }
}
