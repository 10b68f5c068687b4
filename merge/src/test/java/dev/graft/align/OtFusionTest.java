package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * OTFusion on digits MLPs ({@code examples/recipes/heterogeneous}: one hidden layer of 32, 64 or 128 units, trained
 * from different seeds; {@code examples/recipes/independent}: two hidden layers of 32). Exact properties: a model
 * fused with a permuted copy of itself is the model; with equal widths the exact plan is a permutation, the one an
 * assignment on the same cost finds, and the fused weights are the permuted weights averaged; plans have the
 * uniform marginals.
 */
class OtFusionTest {
    private static final Path HETERO = Path.of("../examples/recipes/heterogeneous");
    private static final Path INDEPENDENT = Path.of("../examples/recipes/independent");
    @TempDir
    Path dir;

    /** {@code model} with every group of {@code spec} permuted at random, written in the test folder. */
    private Path shuffled(Path model, PermutationSpec spec, long seed) {
        Path out = dir.resolve("shuffled.onnx");
        try (OnnxModel m = OnnxModel.open(model)) {
            ModelPermuter.write(m, Permutations.random(spec, seed), out, Map.of());
        }
        return out;
    }

    /**
     * A CNN (two convolutions, 16 and 32 channels, flattened into a dense head: the head's input axis is channels ×
     * positions) fused with a copy permuted in both channel groups is the CNN.
     */
    @Test
    void aCnnFusedWithAPermutedCopyOfItselfIsTheCnn() {
        Path model = INDEPENDENT.resolve("cnn_seed1.onnx");
        PermutationSpec spec = Alignment.spec(model, false, ProbeOptions.defaults());
        assertThat(spec.groups()).hasSize(2);
        Path shuffled = shuffled(model, spec, 13);
        Path fused = dir.resolve("fused.onnx");
        OtFusion.Report r = OtFusion.of(shuffled, model).writeTo(fused);
        assertThat(r.groups()).allSatisfy(g -> assertThat(g.cost()).isCloseTo(0,
                org.assertj.core.data.Offset.offset(1e-3)));
        assertThat(new dev.graft.verify.Verifier(ProbeOptions.defaults()).verify(fused, model).maxRel())
                .isLessThan(1e-5);
    }

    /**
     * A fixed group keeps its units (the identity plan) even where the other model's are permuted: the residual
     * stream of a residual network permuted with every other group, fused with the group fixed, averages the
     * embedding unit by unit as it stands.
     */
    @Test
    void aFixedGroupKeepsItsUnits() throws Exception {
        Path model = HETERO.resolve("res_d4.onnx");
        PermutationSpec spec = Alignment.spec(model, false, ProbeOptions.defaults());
        Path shuffled = shuffled(model, spec, 17);
        String residual = spec.groups().get(0).name();
        assertThat(residual).isEqualTo("model/32");
        Path fused = dir.resolve("fused.onnx");
        OtFusion.Report r = OtFusion.of(shuffled, model).fixedGroups(java.util.Set.of(residual)).writeTo(fused);
        assertThat(r.groups()).filteredOn(g -> g.name().equals(residual)).singleElement()
                .satisfies(g -> assertThat(g.entropy()).isCloseTo(Math.log(32), org.assertj.core.data.Offset.offset(1e-9)));
        try (OnnxModel a = OnnxModel.open(model); OnnxModel b = OnnxModel.open(shuffled);
             OnnxModel f = OnnxModel.open(fused)) {
            float[] x = a.weight("embed.weight").orElseThrow().toFloats();
            float[] y = b.weight("embed.weight").orElseThrow().toFloats();
            float[] got = f.weight("embed.weight").orElseThrow().toFloats();
            for (int k = 0; k < x.length; k++) {
                assertThat(got[k]).isCloseTo((x[k] + y[k]) / 2, org.assertj.core.data.Offset.offset(1e-6f));
            }
        }
    }

    /**
     * The cosine ground cost recovers a planted permutation too; activation-mass marginals give, with Sinkhorn and a
     * small regulariser, a model that classifies as the original does, and with exact plans the original itself;
     * without a solver they are refused.
     */
    @Test
    void cosineCostsAndActivationMassMarginals() throws Exception {
        Path model = INDEPENDENT.resolve("mlp_seed1.onnx");
        PermutationSpec spec = Alignment.spec(model, false, ProbeOptions.defaults());
        Path shuffled = shuffled(model, spec, 11);
        Path cosine = dir.resolve("cosine.onnx");
        OtFusion.Report uniform = OtFusion.of(shuffled, model).distance(OtFusion.Distance.COSINE).writeTo(cosine);
        assertThat(uniform.groups()).allSatisfy(g -> assertThat(g.massRange()).containsExactly(new double[] {1, 1},
                org.assertj.core.data.Offset.offset(1e-9)));
        assertThat(new dev.graft.verify.Verifier(ProbeOptions.defaults()).verify(cosine, model).maxRel())
                .isLessThan(1e-5);
        dev.graft.data.Calibration data = dev.graft.data.Calibration.npy(INDEPENDENT.resolve("calibration.npy"), "x",
                64);
        Path massed = dir.resolve("massed.onnx");
        OtFusion.Report r = OtFusion.of(shuffled, model).solver(OtFusion.Solver.SINKHORN).regularization(1e-3)
                .activationMass(data).writeTo(massed);
        assertThat(r.groups()).allSatisfy(g -> assertThat(g.massRange()[1]).as("busy units receive more")
                .isGreaterThan(1.2));
        assertThat(HeterogeneousDigits.accuracy(massed))
                .isCloseTo(HeterogeneousDigits.accuracy(model), org.assertj.core.data.Offset.offset(0.02));
        Path exact = dir.resolve("exact-massed.onnx");
        OtFusion.Report e = OtFusion.of(shuffled, model).activationMass(data).writeTo(exact);
        assertThat(e.groups()).allSatisfy(g -> assertThat(g.massRange()[1]).isGreaterThan(1.2));
        assertThat(new dev.graft.verify.Verifier(ProbeOptions.defaults()).verify(exact, model).maxRel())
                .as("the exact plan between a model and its permuted copy, masses and all, is the permutation")
                .isLessThan(1e-5);
        Path refused = dir.resolve("refused.onnx");
        assertThatThrownBy(() -> OtFusion.of(shuffled, model).solver(OtFusion.Solver.NONE).activationMass(data)
                .writeTo(refused)).isInstanceOf(InvalidSettingException.class).hasMessageContaining("none");
        assertThat(Files.exists(refused)).isFalse();
    }

    @Test
    void aModelFusedWithAPermutedCopyOfItselfIsTheModelByWeightsOrActivations() throws Exception {
        Path model = INDEPENDENT.resolve("mlp_seed1.onnx");
        PermutationSpec spec = Alignment.spec(model, false, ProbeOptions.defaults());
        Path shuffled = shuffled(model, spec, 7);
        Path fused = dir.resolve("fused.onnx");
        OtFusion.Report r = OtFusion.of(shuffled, model).writeTo(fused);
        Path byActivations = dir.resolve("by-activations.onnx");
        OtFusion.of(shuffled, model).activations(dev.graft.data.Calibration.npy(
                INDEPENDENT.resolve("calibration.npy"), "x", 64)).writeTo(byActivations);
        assertThat(r.groups()).hasSize(2).allSatisfy(g -> {
            assertThat(g.sharpShare()).isEqualTo(1.0);
            assertThat(g.entropy()).isCloseTo(Math.log(32), org.assertj.core.data.Offset.offset(1e-9));
        });
        try (OnnxModel a = OnnxModel.open(model); OnnxModel b = OnnxModel.open(fused);
             OnnxModel c = OnnxModel.open(byActivations)) {
            for (Weight w : a.initializers()) {
                float[] expected = w.toFloats();
                float[] got = b.weight(w.name()).orElseThrow().toFloats();
                float[] viaActivations = c.weight(w.name()).orElseThrow().toFloats();
                for (int k = 0; k < expected.length; k++) {
                    assertThat(got[k]).as(w.name()).isCloseTo(expected[k], org.assertj.core.data.Offset.offset(1e-6f));
                    if (w.name().startsWith("0.")) { // later layers: units the data never activates look alike
                        assertThat(viaActivations[k]).as(w.name()).isCloseTo(expected[k],
                                org.assertj.core.data.Offset.offset(1e-6f));
                    }
                }
            }
        }
        assertThat(HeterogeneousDigits.accuracy(byActivations))
                .isCloseTo(HeterogeneousDigits.accuracy(model), org.assertj.core.data.Offset.offset(0.02));
    }

    /**
     * Two MLPs from different seeds, both 64 → 32 → 32 → 10: the first hidden group's cost is the distance between
     * units' incoming weights and biases (the second group has no plan yet), so the exact plan is the assignment
     * {@link LapSolver} finds on that cost, worked out here, and each fused unit is the mean of its two units.
     */
    @Test
    void equalWidthsAndTheExactSolverArePermutationAlignmentAndAveraging() throws Exception {
        Path a = INDEPENDENT.resolve("mlp_seed1.onnx");
        Path b = INDEPENDENT.resolve("mlp_seed2.onnx");
        Path fused = dir.resolve("fused.onnx");
        OtFusion.of(a, b).writeTo(fused);
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b); OnnxModel f = OnnxModel.open(fused)) {
            float[] wa = ma.weight("0.weight").orElseThrow().toFloats();
            float[] ba = ma.weight("0.bias").orElseThrow().toFloats();
            float[] wb = mb.weight("0.weight").orElseThrow().toFloats();
            float[] bb = mb.weight("0.bias").orElseThrow().toFloats();
            double[] cost = new double[32 * 32];
            for (int i = 0; i < 32; i++) {
                for (int j = 0; j < 32; j++) {
                    double sum = Math.pow(ba[i] - bb[j], 2);
                    for (int k = 0; k < 64; k++) {
                        sum += Math.pow(wa[i * 64 + k] - wb[j * 64 + k], 2);
                    }
                    cost[i * 32 + j] = Math.sqrt(sum);
                }
            }
            int[] match = LapSolver.minimize(cost, 32, 32); // A's unit i goes to B's unit match[i]
            float[] wf = f.weight("0.weight").orElseThrow().toFloats();
            float[] bf = f.weight("0.bias").orElseThrow().toFloats();
            for (int i = 0; i < 32; i++) {
                int j = match[i];
                assertThat(bf[j]).isCloseTo((ba[i] + bb[j]) / 2, org.assertj.core.data.Offset.offset(1e-6f));
                for (int k = 0; k < 64; k++) {
                    assertThat(wf[j * 64 + k]).isCloseTo((wa[i * 64 + k] + wb[j * 64 + k]) / 2,
                            org.assertj.core.data.Offset.offset(1e-6f));
                }
            }
        }
        assertThat(HeterogeneousDigits.accuracy(fused)).as("aligned, unlike the naive average").isGreaterThan(0.5);
    }

    @Test
    void differentWidthsFuseIntoEitherModelsWidths() throws Exception {
        Path narrow = HETERO.resolve("mlp_w32.onnx");
        Path wide = HETERO.resolve("mlp_w128.onnx");
        Path intoWide = dir.resolve("into-wide.onnx");
        OtFusion.Report r = OtFusion.of(narrow, wide).writeTo(intoWide);
        assertThat(r.groups()).singleElement().satisfies(g -> {
            assertThat(g.widthA()).isEqualTo(32);
            assertThat(g.widthTarget()).isEqualTo(128);
        });
        Path intoNarrow = dir.resolve("into-narrow.onnx");
        OtFusion.of(narrow, wide).intoA().solver(OtFusion.Solver.SINKHORN).writeTo(intoNarrow);
        try (OnnxModel m = OnnxModel.open(intoNarrow)) {
            assertThat(m.weight("0.weight").orElseThrow().shape()).containsExactly(32, 64);
        }
        for (Path p : new Path[] {intoWide, intoNarrow}) {
            assertThat(HeterogeneousDigits.accuracy(p)).as(p.getFileName().toString()).isGreaterThan(0.95);
        }
    }

    @Test
    void modelsOfDifferentArchitecturesAreRefusedAndNothingIsWritten() {
        Path out = dir.resolve("bad.onnx");
        assertThatThrownBy(() -> OtFusion.of(HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_d2.onnx"))
                .writeTo(out)).isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("mlp_w32.onnx");
        assertThatThrownBy(() -> OtFusion.of(HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w64.onnx"))
                .weight(1.5)).isInstanceOf(InvalidSettingException.class);
        assertThatThrownBy(() -> OtFusion.of(dev.graft.testing.RealModels.miniLm(),
                dev.graft.testing.RealModels.bgeSmall()).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("all-minilm-l6-v2");
        assertThat(Files.exists(out)).isFalse();
    }

    /**
     * bge-small with every group permuted at random, the residual stream, the heads and each head's dimensions
     * included, fused with bge-small: each plan (heads planned as blocks, their dimensions within each pair) finds the
     * permutation back, so the fused model is bge-small's weights, and computes what it does.
     */
    @Test
    void aTransformerFusedWithACopyPermutedInEveryGroupIsTheTransformer() throws Exception {
        Path bge = dev.graft.testing.RealModels.bgeSmall();
        PermutationSpec spec = Alignment.spec(bge, true, ProbeOptions.defaults());
        assertThat(spec.groups()).anySatisfy(g -> assertThat(g.nested()).isTrue());
        Path shuffled = shuffled(bge, spec, 5);
        Path fused = dir.resolve("fused.onnx");
        OtFusion.Report r = OtFusion.of(shuffled, bge).permuteOutputs(true).writeTo(fused);
        assertThat(r.groups()).hasSize(spec.groups().size()).allSatisfy(g -> assertThat(g.sharpShare()).isEqualTo(1.0));
        try (OnnxModel a = OnnxModel.open(bge); OnnxModel f = OnnxModel.open(fused)) {
            for (Weight w : a.initializers()) {
                if (!w.type().isFloatingPoint()) {
                    continue;
                }
                float[] expected = w.toFloats();
                float[] got = f.weight(w.name()).orElseThrow().toFloats();
                for (int k = 0; k < expected.length; k++) {
                    assertThat(got[k]).as(w.name()).isCloseTo(expected[k], org.assertj.core.data.Offset.offset(1e-5f));
                }
            }
        }
        assertThat(new dev.graft.verify.Verifier(ProbeOptions.defaults()).verify(fused, bge).maxRel())
                .isLessThan(1e-4);
    }
}
