package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.merge.MergeMethods;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraComposeTest {
    @TempDir
    Path dir;

    private static LoraModule random(String name, int rank, int in, int out, double scale, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[rank * in];
        float[] b = new float[out * rank];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) r.nextGaussian();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) r.nextGaussian();
        }
        return new LoraModule(name, rank, in, out, a, b, scale);
    }

    /** Adapter one: rank 2, alpha 4 on "q" and "v"; adapter two: rank 3, alpha 3 (rsLoRA) on "q" only. */
    private Path[] adapters() {
        PeftConfig c1 = new PeftConfig(2, 4, false, false, Map.of(), Map.of(), List.of("q", "v"), "none", Map.of());
        PeftConfig c2 = new PeftConfig(3, 3, true, false, Map.of(), Map.of(), List.of("q"), "none", Map.of());
        new PeftAdapter(c1, Map.of("q", random("q", 2, 20, 12, c1.scale("q"), 1), "v",
                random("v", 2, 20, 20, c1.scale("v"), 2)), Map.of()).write(dir.resolve("one"));
        new PeftAdapter(c2, Map.of("q", random("q", 3, 20, 12, c2.scale("q"), 3)), Map.of()).write(dir.resolve("two"));
        return new Path[] {dir.resolve("one"), dir.resolve("two")};
    }

    /** {@code 0.3·ΔW₁ + 0.7·ΔW₂} of module {@code name}, from the adapters as read. */
    private static float[] expected(Path[] folders, String name) {
        float[] sum = null;
        double[] w = {0.3, 0.7};
        for (int k = 0; k < 2; k++) {
            LoraModule m = PeftAdapter.read(folders[k]).modules().get(name);
            if (m == null) {
                continue;
            }
            float[] d = m.delta();
            if (sum == null) {
                sum = new float[d.length];
            }
            for (int i = 0; i < d.length; i++) {
                sum[i] += (float) (w[k] * d[i]);
            }
        }
        return sum;
    }

    private static void assertClose(float[] got, float[] want, double tolerance) {
        assertThat(got).hasSameSizeAs(want);
        for (int i = 0; i < want.length; i++) {
            assertThat(got[i]).isCloseTo(want[i], within((float) tolerance));
        }
    }

    @Test
    void catIsExactAndItsRanksAdd() {
        Path[] in = adapters();
        List<LoraCompose.Module> r = LoraCompose.of().adapter(in[0], 0.3).adapter(in[1], 0.7)
                .writeTo(dir.resolve("cat"));
        PeftAdapter cat = PeftAdapter.read(dir.resolve("cat"));
        assertThat(cat.modules().get("q").rank()).isEqualTo(5);
        assertThat(cat.modules().get("v").rank()).isEqualTo(2);
        assertThat(r).extracting(LoraCompose.Module::capturedEnergy).containsOnly(1.0);
        for (String m : List.of("q", "v")) {
            assertClose(cat.modules().get(m).delta(), expected(in, m), 1e-4);
        }
    }

    @Test
    void svdIsExactAtFullRankAndKeepsTheTopOfTheSpectrumBelow() {
        Path[] in = adapters();
        LoraCompose.of().adapter(in[0], 0.3).adapter(in[1], 0.7).method(LoraCompose.Method.SVD, 8)
                .writeTo(dir.resolve("svd"));
        PeftAdapter full = PeftAdapter.read(dir.resolve("svd"));
        assertThat(full.modules().get("q").rank()).isEqualTo(8); // capped by min(in, out) = 12, not by the content
        assertClose(full.modules().get("q").delta(), expected(in, "q"), 1e-3);
        List<LoraCompose.Module> low = LoraCompose.of().adapter(in[0], 0.3).adapter(in[1], 0.7)
                .method(LoraCompose.Method.SVD, 2).writeTo(dir.resolve("low"));
        LoraCompose.Module q = low.stream().filter(m -> m.module().equals("q")).findFirst().orElseThrow();
        assertThat(q.capturedEnergy()).isBetween(0.3, 0.999);
        float[] want = expected(in, "q");
        float[] got = PeftAdapter.read(dir.resolve("low")).modules().get("q").delta();
        double error = 0;
        double total = 0;
        for (int i = 0; i < want.length; i++) {
            error += (double) (got[i] - want[i]) * (got[i] - want[i]);
            total += (double) want[i] * want[i];
        }
        assertThat(error).isCloseTo((1 - q.capturedEnergy()) * total, within(1e-4 * total));
        List<LoraCompose.Module> byEnergy = LoraCompose.of().adapter(in[0], 0.3).adapter(in[1], 0.7)
                .method(LoraCompose.Method.SVD, 8).energy(0.9).writeTo(dir.resolve("energy"));
        assertThat(byEnergy).allSatisfy(m -> assertThat(m.capturedEnergy()).isGreaterThanOrEqualTo(0.9 - 1e-9))
                .anySatisfy(m -> assertThat(m.rank()).isLessThan(5));
    }

    /**
     * Through a task-vector merge method: task arithmetic equals the plain sum; TIES of an adapter with itself (all
     * signs agree, weights normalised) is that adapter's update.
     */
    @Test
    void mergeMethodsCombineTheFullUpdates() {
        Path[] in = adapters();
        LoraCompose.of().adapter(in[0], 0.3).adapter(in[1], 0.7)
                .merged(MergeMethods.create("task_arithmetic"), Map.of(), 0, 8).writeTo(dir.resolve("ta"));
        assertClose(PeftAdapter.read(dir.resolve("ta")).modules().get("q").delta(), expected(in, "q"), 1e-3);
        LoraCompose.of().adapter(in[1], 0.5).adapter(in[1], 0.5)
                .merged(MergeMethods.create("ties"), Map.of("density", 1.0), 0, 8).writeTo(dir.resolve("ties"));
        assertClose(PeftAdapter.read(dir.resolve("ties")).modules().get("q").delta(),
                PeftAdapter.read(in[1]).modules().get("q").delta(), 1e-3);
        List<LoraCompose.Module> dare = LoraCompose.of().adapter(in[0], 1).adapter(in[1], 1)
                .merged(MergeMethods.create("dare_ties"), Map.of("density", 0.5), 7, 4).writeTo(dir.resolve("dare"));
        assertThat(dare).allSatisfy(m -> assertThat(m.rank()).isEqualTo(4));
    }

    @Test
    void adaptersWithTrainedBiasesOrMismatchedModulesAreRefused() {
        PeftConfig c = new PeftConfig(1, 1, false, false, Map.of(), Map.of(), List.of("q"), "lora_only", Map.of());
        new PeftAdapter(c, Map.of("q", random("q", 1, 4, 4, 1, 1)), Map.of("q", new float[4])).write(dir.resolve("b"));
        assertThatThrownBy(() -> LoraCompose.of().adapter(dir.resolve("b"), 1).writeTo(dir.resolve("out")))
                .isInstanceOf(AdapterFormatException.class).hasMessageContaining("trained biases");
        PeftConfig d = PeftConfig.of(1, 1, List.of("q"));
        new PeftAdapter(d, Map.of("q", random("q", 1, 4, 4, 1, 1)), Map.of()).write(dir.resolve("x"));
        new PeftAdapter(d, Map.of("q", random("q", 1, 5, 4, 1, 1)), Map.of()).write(dir.resolve("y"));
        assertThatThrownBy(() -> LoraCompose.of().adapter(dir.resolve("x"), 1).adapter(dir.resolve("y"), 1)
                .writeTo(dir.resolve("out"))).hasMessageContaining("5 → 4").hasMessageContaining("4 → 4");
    }
}
