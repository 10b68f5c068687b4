package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.InvalidSettingException;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** SLERP, NuSLERP, Model Stock, Karcher and Linear on hand-made tensors with values worked out by hand. */
class SphericalMethodsTest {
    private static final float R = (float) Math.sqrt(0.5); // sin(π/4)

    @Test
    void slerpEndpointsAndQuarterCircle() {
        float[] v0 = {0.3f, -1.2f, 2f};
        float[] v1 = {-0.5f, 0.4f, 1f};
        assertThat(Inputs.base(v0).model(1, v1).global("t", 0).run(new Slerp())).containsExactly(v0);
        assertThat(Inputs.base(v0).model(1, v1).global("t", 1).run(new Slerp())).containsExactly(v1);
        // [1,0] to [0,1] at t = 0.5: Ω = π/2, both coefficients sin(π/4)/1
        float[] mid = Inputs.base(1, 0).model(1, 0, 1).global("t", 0.5).run(new Slerp());
        assertThat(mid[0]).isCloseTo(R, within(1e-6f));
        assertThat(mid[1]).isCloseTo(R, within(1e-6f));
        // colinear: linear interpolation
        assertThat(Inputs.base(1, 2).model(1, 2, 4).global("t", 0.5).run(new Slerp())).containsExactly(1.5f, 3f);
        assertThatThrownBy(() -> Inputs.base(1, 0).model(1, 0, 1).model(1, 1, 1).global("t", 0.5).run(new Slerp()))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("exactly one model");
    }

    @Test
    void nuslerpWeightsGiveT() {
        float[] half = Inputs.noBase().model(1, 1, 0).model(1, 0, 1).run(new NuSlerp());
        assertThat(half[0]).isCloseTo(R, within(1e-6f));
        // weights 1 and 3: t = 0.75 → [sin(π/8), sin(3π/8)]
        float[] q = Inputs.noBase().model(1, 1, 0).model(3, 0, 1).run(new NuSlerp());
        assertThat(q[0]).isCloseTo((float) Math.sin(Math.PI / 8), within(1e-6f));
        assertThat(q[1]).isCloseTo((float) Math.sin(3 * Math.PI / 8), within(1e-6f));
        // with a base: task vectors [1,0] and [0,1] are interpolated and added to [1,1]
        float[] b = Inputs.base(1, 1).model(1, 2, 1).model(1, 1, 2).run(new NuSlerp());
        assertThat(b[0]).isCloseTo(1 + R, within(1e-6f));
        // per row: rows [1,0] vs [0,1] and [2,0] vs [2,0] (colinear: linear) of a [2,2] tensor
        float[] rows = Inputs.noBase().model(1, 1, 0, 2, 0).model(1, 0, 1, 2, 0).shape(2, 2)
                .global("nuslerp_flatten", 0).run(new NuSlerp());
        assertThat(rows[0]).isCloseTo(R, within(1e-6f));
        assertThat(rows[2]).isEqualTo(2f);
        assertThat(rows[3]).isEqualTo(0f);
    }

    @Test
    void modelStockInterpolatesByTheAngleOfTaskVectors() {
        // orthogonal task vectors: cos 0 → t 0 → the base
        assertThat(Inputs.base(0, 0).model(1, 1, 0).model(1, 0, 1).run(new ModelStock())).containsExactly(0, 0);
        // identical task vectors: cos 1 → t = 2/(1+1) = 1 → their mean
        assertThat(Inputs.base(0, 0).model(1, 1, 0).model(1, 1, 0).run(new ModelStock())).containsExactly(1, 0);
        // [1,1] and [1,0]: cos = 1/√2, t = 2c/(1+c) = 0.828427; mean [1, 0.5]
        double c = Math.sqrt(0.5);
        double t = 2 * c / (1 + c);
        float[] out = Inputs.base(0, 0).model(1, 1, 1).model(1, 1, 0).run(new ModelStock());
        assertThat(out[0]).isCloseTo((float) t, within(1e-6f));
        assertThat(out[1]).isCloseTo((float) (t * 0.5), within(1e-6f));
    }

    @Test
    void karcherMeanOnTheCircle() {
        float[] m = Inputs.noBase().model(1, 2, 0).model(1, 0, 2).run(new KarcherMean());
        assertThat(m[0]).isCloseTo(2 * R, within(1e-5f));
        assertThat(m[1]).isCloseTo(2 * R, within(1e-5f));
        // a zero model has no direction: the mean is the other's direction, scaled by the mean norm 1.5
        float[] z = Inputs.noBase().model(1, 0, 0).model(1, 0, 3).run(new KarcherMean());
        assertThat(z).containsExactly(0f, 1.5f);
        // weights 3:1 on [1,0] and [0,1]: the weighted Karcher mean sits at angle π/8 (a quarter of the way)
        float[] w = Inputs.noBase().model(3, 1, 0).model(1, 0, 1).run(new KarcherMean());
        assertThat(w[0]).isCloseTo((float) Math.cos(Math.PI / 8), within(1e-4f));
        assertThat(w[1]).isCloseTo((float) Math.sin(Math.PI / 8), within(1e-4f));
    }

    @Test
    void linearFormula() {
        // (1·1 + 2·3 + 1·0)/4 = 7/4, (2 + 12 + 1)/4 = 15/4, (−4 + 0 + 8)/4 = 1
        Inputs in = Inputs.noBase().model(1, 1, 2, -4).model(2, 3, 6, 0).model(1, 0, 1, 8);
        assertThat(in.run(new Linear())).containsExactly(1.75f, 3.75f, 1f);
        assertThat(in.global("normalize", 0).run(new Linear())).containsExactly(7f, 15f, 4f);
        assertThatThrownBy(() -> Inputs.noBase().model(1, 1f).model(-1, 2f).run(new Linear()))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("sum to 0");
    }

    @Test
    void registryKnowsEveryMethod() {
        assertThat(MergeMethods.names()).containsExactly("linear", "task_arithmetic", "ties", "dare_linear",
                "dare_ties", "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "slerp", "nuslerp",
                "model_stock", "karcher");
        for (String name : MergeMethods.names()) {
            assertThat(MergeMethods.create(name).name()).isEqualTo(name);
        }
        assertThatThrownBy(() -> MergeMethods.create("frankenmerge")).hasMessageContaining("available");
        assertThat(Map.of()).isEmpty();
    }
}
