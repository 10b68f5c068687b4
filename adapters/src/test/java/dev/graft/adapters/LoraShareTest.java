package dev.graft.adapters;

import dev.graft.index.LayerNumbers;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraShareTest {
    private static final int IN = 24;
    private static final int OUT = 16;

    @TempDir
    Path dir;

    private static float[] gaussian(int n, SplittableRandom r) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Four layers' query updates of rank 2 (A shared if {@code common}), and one value update in layer 0. */
    private Path adapter(boolean common) {
        SplittableRandom r = new SplittableRandom(11);
        float[] shared = gaussian(2 * IN, r);
        Map<String, LoraModule> modules = new LinkedHashMap<>();
        for (int l = 0; l < 4; l++) {
            String name = "encoder.layer." + l + ".attention.self.query";
            modules.put(name, new LoraModule(name, 2, IN, OUT, common ? shared : gaussian(2 * IN, r),
                    gaussian(OUT * 2, r), 0.5));
        }
        modules.put("encoder.layer.0.attention.self.value", new LoraModule("encoder.layer.0.attention.self.value", 2,
                IN, OUT, gaussian(2 * IN, r), gaussian(OUT * 2, r), 0.5));
        new PeftAdapter(PeftConfig.of(2, 1, List.of("query", "value")), modules, Map.of()).write(dir.resolve("in"));
        return dir.resolve("in");
    }

    private static double max(double[] v) {
        return java.util.Arrays.stream(v).max().orElseThrow();
    }

    private static void assertSameUpdates(PeftAdapter got, PeftAdapter want, double tolerance) {
        for (LoraModule w : want.modules().values()) {
            float[] x = got.modules().get(w.name()).delta();
            float[] y = w.delta();
            for (int i = 0; i < y.length; i++) {
                assertThat(x[i]).as(w.name()).isCloseTo(y[i], within((float) tolerance));
            }
        }
    }

    @Test
    void updatesThatShareTheirAAreReproducedAtTheirRankWithFewerParameters() {
        Path in = adapter(true);
        List<LoraShare.Kind> r = LoraShare.from(in).rank(2).writeTo(dir.resolve("shared"));
        assertThat(r).singleElement().satisfies(k -> {
            assertThat(k.kind()).isEqualTo("encoder.layer.*.attention.self.query");
            assertThat(k.modules()).hasSize(4);
            assertThat(k.parametersBefore()).isEqualTo(4L * 2 * (IN + OUT));
            assertThat(k.parametersAfter()).isEqualTo(2L * IN + 4L * 2 * OUT);
            assertThat(java.util.Arrays.stream(k.relativeError()).max().orElseThrow()).isLessThan(1e-9);
        });
        assertSameUpdates(PeftAdapter.read(dir.resolve("shared")), PeftAdapter.read(in), 1e-4);
    }

    /** Trained biases are per layer anyway: they go along unchanged. */
    @Test
    void trainedBiasesAreCarriedOver() {
        LoraModule m = new LoraModule("encoder.layer.0.q", 1, 4, 4, new float[4], new float[4], 1);
        LoraModule n = new LoraModule("encoder.layer.1.q", 1, 4, 4, new float[4], new float[4], 1);
        PeftConfig c = new PeftConfig(1, 1, false, false, Map.of(), Map.of(), List.of("q"), "lora_only", Map.of());
        new PeftAdapter(c, Map.of(m.name(), m, n.name(), n), Map.of(m.name(), new float[] {1, 2, 3, 4}))
                .write(dir.resolve("biased"));
        LoraShare.from(dir.resolve("biased")).rank(1).writeTo(dir.resolve("out"));
        PeftAdapter out = PeftAdapter.read(dir.resolve("out"));
        assertThat(out.config().bias()).isEqualTo("lora_only");
        assertThat(out.biases().get(m.name())).containsExactly(1, 2, 3, 4);
    }

    /** Unrelated updates: exact once the shared rank holds all of them, and below, the error is the discarded energy. */
    @Test
    void unrelatedUpdatesNeedTheSumOfTheirRanksAndLoseTheDiscardedEnergyBelow() {
        Path in = adapter(false);
        LoraShare.from(in).rank(8).writeTo(dir.resolve("full"));
        assertSameUpdates(PeftAdapter.read(dir.resolve("full")), PeftAdapter.read(in), 1e-3);
        List<LoraShare.Kind> r = LoraShare.from(in).rank(4).writeTo(dir.resolve("half"));
        assertThat(java.util.Arrays.stream(r.get(0).relativeError()).min().orElseThrow()).isGreaterThan(1e-3);
        assertThat(java.util.Arrays.stream(r.get(0).relativeError()).max().orElseThrow()).isLessThan(1.0);
        assertThat(LayerNumbers.kindOf("model.layers.12.mlp.up_proj")).isEqualTo("model.layers.*.mlp.up_proj");
        assertThat(LayerNumbers.kindOf("transformer.h.3.attn.c_attn")).isEqualTo("transformer.h.*.attn.c_attn");
        assertThat(LayerNumbers.kindOf("pooler.dense")).isNull();
    }

    /** Layers 0 and 2 share one A, layers 1 and 3 another: two groups find them, and reproduce all four exactly. */
    @Test
    void layersWhoseUpdatesAreAlikeAreGroupedTogether() {
        SplittableRandom r = new SplittableRandom(4);
        float[][] as = {gaussian(2 * IN, r), gaussian(2 * IN, r)};
        Map<String, LoraModule> modules = new LinkedHashMap<>();
        for (int l = 0; l < 4; l++) {
            String name = "encoder.layer." + l + ".attention.self.query";
            modules.put(name, new LoraModule(name, 2, IN, OUT, as[l % 2], gaussian(OUT * 2, r), 1));
        }
        new PeftAdapter(PeftConfig.of(2, 2, List.of("query")), modules, Map.of()).write(dir.resolve("in"));
        List<LoraShare.Kind> two = LoraShare.from(dir.resolve("in")).rank(2).groups(2).writeTo(dir.resolve("two"));
        assertThat(two).extracting(LoraShare.Kind::layers).containsExactly(List.of(0, 2), List.of(1, 3));
        assertThat(two).allSatisfy(k -> assertThat(max(k.relativeError())).isLessThan(1e-9));
        assertSameUpdates(PeftAdapter.read(dir.resolve("two")), PeftAdapter.read(dir.resolve("in")), 1e-4);
        List<LoraShare.Kind> one = LoraShare.from(dir.resolve("in")).rank(2).writeTo(dir.resolve("one"));
        assertThat(one).singleElement().satisfies(k -> assertThat(java.util.Arrays.stream(k.relativeError()).min()
                .orElseThrow()).isGreaterThan(1e-3));
        List<LoraShare.Kind> each = LoraShare.from(dir.resolve("in")).rank(2).groups(9).writeTo(dir.resolve("each"));
        assertThat(each).hasSize(4).allSatisfy(k -> assertThat(k.modules()).hasSize(1));
    }

    /** From a base and a fine-tune: the fine-tune is bge plus a planted shared-A update on four query layers. */
    @Test
    void theUpdateOfAFineTuneIsSharedAsWell() {
        Path bge = dev.graft.testing.RealModels.bgeSmall();
        SplittableRandom r = new SplittableRandom(8);
        float[] a = gaussian(2 * 384, r);
        Map<String, LoraModule> modules = new LinkedHashMap<>();
        for (int l = 0; l < 4; l++) {
            String name = "encoder.layer." + l + ".attention.self.query";
            float[] b = gaussian(384 * 2, r);
            for (int k = 0; k < b.length; k++) {
                b[k] *= 1e-2f;
            }
            modules.put(name, new LoraModule(name, 2, 384, 384, a, b, 1));
        }
        new PeftAdapter(PeftConfig.of(2, 2, List.of("query")), modules, Map.of()).write(dir.resolve("planted"));
        Path tuned = dir.resolve("tuned.onnx");
        LoraApply.to(bge).adapter(dir.resolve("planted")).writeTo(tuned);
        List<LoraShare.Kind> r2 = LoraShare.between(bge, tuned).rank(2).writeTo(dir.resolve("shared"));
        assertThat(r2).singleElement().satisfies(k -> {
            assertThat(k.modules()).hasSize(4);
            assertThat(k.parametersBefore()).isEqualTo(4L * 384 * 384);
            assertThat(k.parametersAfter()).isEqualTo(2L * 384 + 4L * 2 * 384);
            assertThat(max(k.relativeError())).isLessThan(1e-6);
        });
        PeftAdapter shared = PeftAdapter.read(dir.resolve("shared"));
        assertThat(shared.biases()).isEmpty();
        assertSameUpdates(shared, PeftAdapter.read(dir.resolve("planted")), 1e-5);
        assertThatThrownBy(() -> LoraShare.between(bge, bge).writeTo(dir.resolve("none")))
                .isInstanceOf(dev.graft.GraftException.class).hasMessageContaining("no update to share");
    }
}
