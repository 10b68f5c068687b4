package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.data.Calibration;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.testing.RealModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLAFusion on the digits MLPs of {@code examples/recipes/heterogeneous}: a model deepened by an identity layer
 * computes what it did; a model aligned with itself maps layer i to layer i; one hidden layer (64) fused with two
 * (64, 64) gives a two-hidden-layer model that still classifies. On the pre-norm residual networks there (2 and 4
 * blocks): with the target's share 0 the fusion in the deeper depth computes exactly what the shallower model does
 * (its blocks carried into the deeper one's units, identity blocks elsewhere), with share 1 what the deeper one
 * does. On all-MiniLM-L6-v2 (6 layers) with bge-small (12): the identity blocks are bge's own with their
 * residual-branch outputs scaled by s, and both depths run.
 */
class ClaFusionTest {
    private static final Path HETERO = Path.of("../examples/recipes/heterogeneous");
    @TempDir
    Path dir;

    private static Calibration data() {
        return Calibration.npy(HETERO.resolve("calibration.npy"), "x", 64);
    }

    @Test
    void anIdentityLayerKeepsTheFunction() {
        Path shallow = HETERO.resolve("mlp_w64.onnx");
        Path deep = HETERO.resolve("mlp_d2.onnx");
        Path deepened = dir.resolve("deepened.onnx");
        LayerTransplant.deepen(shallow, ClaFusion.mlp(shallow), deep, ClaFusion.mlp(deep), List.of(0), deepened);
        assertThat(ClaFusion.mlp(deepened)).hasSize(3);
        assertSameLogits(deepened, shallow);
    }

    @Test
    void aModelAlignsWithItselfLayerByLayer() {
        Path deep = HETERO.resolve("mlp_d2.onnx");
        ClaFusion.Report r = ClaFusion.of(deep, deep, data()).writeTo(dir.resolve("self.onnx"));
        assertThat(r.alignment()).containsExactly(0, 1);
        assertThat(r.similarity()[0][0]).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(r.similarity()[1][1]).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(LayerSimilarity.align(new double[][] {{0.9, 0.1, 0.2}, {0.1, 0.3, 0.8}})).containsExactly(0, 2);
        assertThat(LayerSimilarity.align(new double[][] {{0.9, 0.1, 0.2}, {0.1, 0.7, 0.3}})).containsExactly(0, 1);
    }

    @Test
    void oneHiddenLayerFusesWithTwo() {
        Path fused = dir.resolve("fused.onnx");
        ClaFusion.Report r = ClaFusion.of(HETERO.resolve("mlp_w64.onnx"), HETERO.resolve("mlp_d2.onnx"), data())
                .writeTo(fused);
        assertThat(r.targetModel()).isEqualTo("mlp_d2.onnx");
        assertThat(r.alignment()).containsExactly(0);
        assertThat(r.fusion().groups()).hasSize(2);
        assertThat(ClaFusion.mlp(fused)).hasSize(3);
        assertThat(HeterogeneousDigits.accuracy(fused)).isGreaterThan(0.9);
    }

    @Test
    void residualBlocksFuseAcrossDepthsWithExactIdentityBlocks() {
        Path shallow = HETERO.resolve("res_d2.onnx");
        Path deep = HETERO.resolve("res_d4.onnx");
        Path onlyShallow = dir.resolve("share0.onnx");
        ClaFusion.Report r = ClaFusion.of(shallow, deep, data()).weight(0).writeTo(onlyShallow);
        assertThat(r.targetModel()).isEqualTo("res_d4.onnx");
        assertThat(r.alignment()).containsExactly(0, 3); // first and last pinned
        assertThat(r.similarity()).hasDimensions(2, 4);
        assertSameLogits(onlyShallow, shallow);
        Path onlyDeep = dir.resolve("share1.onnx");
        ClaFusion.of(shallow, deep, data()).weight(1).writeTo(onlyDeep);
        assertThat(new Verifier(ProbeOptions.defaults()).verify(onlyDeep, deep).maxRel()).isLessThan(1e-5);
        Path half = dir.resolve("half.onnx");
        ClaFusion.of(shallow, deep, data()).writeTo(half);
        Path byActivations = dir.resolve("by-activations.onnx");
        ClaFusion.of(shallow, deep, data()).activationCost(true).writeTo(byActivations);
        assertThat(HeterogeneousDigits.accuracy(byActivations)).as("naive: 0.757").isGreaterThan(0.9);
        Path shallower = dir.resolve("shallower.onnx");
        ClaFusion.Report s = ClaFusion.of(deep, shallow, data()).depth(ClaFusion.Depth.SHALLOWER).writeTo(shallower);
        assertThat(s.targetModel()).isEqualTo("res_d2.onnx");
        assertThat(HeterogeneousDigits.accuracy(half)).isGreaterThan(0.5);
        assertThat(HeterogeneousDigits.accuracy(shallower)).isGreaterThan(0.5);
        ClaFusion.Report self = ClaFusion.of(deep, deep, data()).writeTo(dir.resolve("self.onnx"));
        assertThat(self.alignment()).containsExactly(0, 1, 2, 3);
        ClaFusion.Report byWeights = ClaFusion.of(deep, deep, null).layerCost(ClaFusion.LayerCost.WEIGHTS)
                .writeTo(dir.resolve("self-by-weights.onnx"));
        assertThat(byWeights.alignment()).containsExactly(0, 1, 2, 3);
        for (int i = 0; i < 4; i++) {
            assertThat(byWeights.similarity()[i][i]).as("a layer is at distance 0 from itself").isCloseTo(0,
                    org.assertj.core.data.Offset.offset(1e-3));
            for (int j = 0; j < 4; j++) {
                assertThat(byWeights.similarity()[i][j]).isLessThanOrEqualTo(byWeights.similarity()[i][i]);
            }
        }
        assertThatThrownBy(() -> ClaFusion.of(HETERO.resolve("mlp_w64.onnx"), HETERO.resolve("mlp_d2.onnx"), null)
                .writeTo(dir.resolve("no-data.onnx"))).isInstanceOf(dev.graft.InvalidSettingException.class)
                .hasMessageContaining("calibration data");
        assertThat(new Verifier(ProbeOptions.defaults()).verify(dir.resolve("self.onnx"), deep).maxRel())
                .isLessThan(1e-5);
    }

    /**
     * Residual CNNs of 2 and 4 pre-activation blocks of convolutions: with the deeper model's share 0 the
     * deeper-depth fusion computes exactly what the 2-block network does (its identity blocks have their second
     * convolution zeroed); in the shallower depth with its share 1, the 2-block network itself.
     */
    @Test
    void residualCnnsFuseAcrossDepths() {
        Path shallow = HETERO.resolve("resnet_d2.onnx");
        Path deep = HETERO.resolve("resnet_d4.onnx");
        Path onlyShallow = dir.resolve("share0.onnx");
        ClaFusion.Report r = ClaFusion.of(shallow, deep, data()).weight(0).writeTo(onlyShallow);
        assertThat(r.alignment()).containsExactly(0, 3);
        assertSameLogits(onlyShallow, shallow);
        Path shallower = dir.resolve("shallower.onnx");
        ClaFusion.Report s = ClaFusion.of(deep, shallow, data()).depth(ClaFusion.Depth.SHALLOWER).weight(1)
                .writeTo(shallower);
        assertThat(s.targetModel()).isEqualTo("resnet_d2.onnx");
        assertThat(new Verifier(ProbeOptions.defaults()).verify(shallower, shallow).maxRel()).isLessThan(1e-5);
    }

    /** {@code fused} gives {@code model}'s logits on the test images (within 1e-4). */
    private static void assertSameLogits(Path fused, Path model) {
        float[] expected = HeterogeneousDigits.logits(model);
        float[] got = HeterogeneousDigits.logits(fused);
        for (int k = 0; k < expected.length; k++) {
            assertThat(got[k]).isCloseTo(expected[k], org.assertj.core.data.Offset.offset(1e-4f));
        }
    }

    /**
     * all-MiniLM-L6-v2 with bge-small, in bge's depth: the six bge layers no MiniLM layer is aligned to are bge's own
     * with their residual-branch outputs (attention output and FFN output, weights and biases) times s; every other
     * weight of theirs is bge's; the fused model runs in ONNX Runtime.
     */
    @Test
    void aSixLayerEncoderFusesWithATwelveLayerOne() throws Exception {
        Path fused = dir.resolve("fused.onnx");
        Calibration text = Calibration.text(Path.of("../examples/recipes/text/heldout.txt"),
                RealModels.bgeSmall().resolveSibling("bge-small-en-v1.5-tokenizer.json"), 32, 64);
        ClaFusion.Report r = ClaFusion.of(RealModels.miniLm(), RealModels.bgeSmall(), text).permuteOutputs(true)
                .weight(0.5).writeTo(fused);
        assertThat(r.alignment()).hasSize(6).startsWith(0).endsWith(11).isSorted().doesNotHaveDuplicates();
        java.util.Set<Integer> identity = new java.util.TreeSet<>(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
        identity.removeAll(r.alignment());
        int scaled = 0;
        try (OnnxModel bge = OnnxModel.open(RealModels.bgeSmall()); OnnxModel f = OnnxModel.open(fused)) {
            LayerStack stack = LayerStack.of(bge).orElseThrow();
            for (Weight w : bge.initializers()) {
                if (!w.type().isFloatingPoint() || !identity.contains(stack.layerOf(w.name()))) {
                    continue;
                }
                String module = dev.graft.index.GraphIndex.of(bge).get(w.name()).orElseThrow().modulePath();
                boolean branch = module.endsWith("attention.output.dense") || module.endsWith(".output.dense")
                        && !module.contains("attention");
                scaled += branch ? 1 : 0;
                float[] expected = w.toFloats();
                float[] got = f.weight(w.name()).orElseThrow().toFloats();
                for (int k = 0; k < expected.length; k++) {
                    assertThat(got[k]).as(w.name()).isCloseTo((branch ? 0.5f : 1f) * expected[k],
                            org.assertj.core.data.Offset.offset(1e-6f));
                }
            }
        }
        assertThat(scaled).as("two weights and two biases per identity block").isEqualTo(4 * identity.size());
        assertThat(new Verifier(ProbeOptions.defaults()).verify(fused, RealModels.bgeSmall()).maxRel())
                .as("runs, and differs from bge").isGreaterThan(1e-3);
    }
}
