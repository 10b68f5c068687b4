package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.data.Calibration;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CLAFusion on the digits MLPs of {@code examples/recipes/heterogeneous}: a model deepened by an identity layer
 * computes what it did; a model aligned with itself maps layer i to layer i; one hidden layer (64) fused with two
 * (64, 64) gives a two-hidden-layer model that still classifies.
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
        ClaFusion.deepen(shallow, ClaFusion.mlp(shallow), deep, ClaFusion.mlp(deep), List.of(0), deepened);
        assertThat(ClaFusion.mlp(deepened)).hasSize(3);
        float[] expected = HeterogeneousDigits.logits(shallow);
        float[] got = HeterogeneousDigits.logits(deepened);
        for (int k = 0; k < expected.length; k++) {
            assertThat(got[k]).isCloseTo(expected[k], org.assertj.core.data.Offset.offset(1e-5f));
        }
    }

    @Test
    void aModelAlignsWithItselfLayerByLayer() {
        Path deep = HETERO.resolve("mlp_d2.onnx");
        ClaFusion.Report r = ClaFusion.of(deep, deep, data()).writeTo(dir.resolve("self.onnx"));
        assertThat(r.alignment()).containsExactly(0, 1);
        assertThat(r.cka()[0][0]).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(r.cka()[1][1]).isCloseTo(1, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(ClaFusion.align(new double[][] {{0.9, 0.1, 0.2}, {0.1, 0.3, 0.8}})).containsExactly(0, 2);
        assertThat(ClaFusion.align(new double[][] {{0.9, 0.1, 0.2}, {0.1, 0.7, 0.3}})).containsExactly(0, 1);
    }

    @Test
    void oneHiddenLayerFusesWithTwo() {
        Path fused = dir.resolve("fused.onnx");
        ClaFusion.Report r = ClaFusion.of(HETERO.resolve("mlp_w64.onnx"), HETERO.resolve("mlp_d2.onnx"), data())
                .writeTo(fused);
        assertThat(r.deeper()).isEqualTo("mlp_d2.onnx");
        assertThat(r.alignment()).containsExactly(0);
        assertThat(r.fusion().groups()).hasSize(2);
        assertThat(ClaFusion.mlp(fused)).hasSize(3);
        assertThat(HeterogeneousDigits.accuracy(fused)).isGreaterThan(0.9);
    }
}
