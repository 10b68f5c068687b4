package dev.graft.moe;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.Graft;
import dev.graft.GraftIoException;
import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.NpyArray;
import dev.graft.eval.Task;
import dev.graft.eval.TaskFile;
import dev.graft.merge.MergeMethods;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import dev.graft.verify.ModelRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * WEMoE on the digits MLP (64→64→10, Gemm layers, fully fine-tuned three times): exact properties of the routed
 * graph run in ONNX Runtime, routers from a file against the formula worked out here, fitted routers against task
 * arithmetic, and the bad inputs.
 */
class RoutedMergeTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");
    static final Path BASE = DIGITS.resolve("base.onnx");
    static final List<Path> TUNED = List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"),
            DIGITS.resolve("task_c.onnx"));

    @TempDir
    Path dir;

    private static float[] inputs(int n) {
        float[] x = NpyArray.read(DIGITS.resolve("task_c_x.npy")).floats();
        return java.util.Arrays.copyOf(x, n * 64);
    }

    private static float[] logits(Path model, float[] x) {
        try (ModelRunner r = new ModelRunner(model, 1)) {
            return r.run(Map.of("x", ModelRunner.Input.of(x, x.length / 64, 64)), Set.of("logits")).get("logits")
                    .values();
        }
    }

    /** A router that always picks expert t gives fine-tune t's logits: every weight of these fine-tunes is routed. */
    @Test
    void aRouterPickingOneExpertReproducesThatFineTune() {
        float[] x = inputs(32);
        for (int t = 0; t < 3; t++) {
            Path out = dir.resolve("pick" + t + ".onnx");
            RoutedMerge.Report r = RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.picking(t))
                    .writeTo(out);
            assertThat(r.groups()).hasSize(2);
            assertThat(Decoders.maxAbsDiff(logits(out, x), logits(TUNED.get(t), x))).as("expert " + t)
                    .isLessThan(1e-4);
        }
    }

    /**
     * Two identical experts under fitted routers give that expert, whatever the routing: the posteriors sum to 1, so
     * every routed weight is W₀ + (r₁ + r₂)·τ = W₀ + τ.
     */
    @Test
    void identicalExpertsGiveThatExpertWhateverTheRouting() {
        Path moe = dir.resolve("twins.onnx");
        RoutedMerge.wemoe(BASE, List.of(TUNED.get(0), TUNED.get(0))).routers(RouterSource.fitted(List.of(
                Calibration.npy(DIGITS.resolve("task_a_x.npy"), "x", 64),
                Calibration.npy(DIGITS.resolve("task_b_x.npy"), "x", 64)))).writeTo(moe);
        float[] x = inputs(32);
        assertThat(Decoders.maxAbsDiff(logits(moe, x), logits(TUNED.get(0), x))).isLessThan(1e-4);
    }

    /** Constant routers at λ give task arithmetic with λ. */
    @Test
    void constantRoutersAreTaskArithmetic() {
        Path moe = dir.resolve("constant.onnx");
        RoutedMerge.wemoe(BASE, TUNED).lambda(0.4).writeTo(moe);
        Path ta = dir.resolve("ta.onnx");
        var merge = Graft.merge().base(BASE).method(MergeMethods.create("task_arithmetic")).parameter("lambda", 0.4);
        TUNED.forEach(m -> merge.model(m, 1.0));
        merge.writeTo(ta);
        float[] x = inputs(32);
        assertThat(Decoders.maxAbsDiff(logits(moe, x), logits(ta, x))).isLessThan(1e-4);
        assertThat(Decoders.maxAbsDiff(logits(moe, x), logits(BASE, x))).isGreaterThan(1e-2);
    }

    /**
     * Routers read from a file (random MLP routers, written as PyTorch would save them) give what the WEMoE formula
     * gives when worked out here from the four models' weights: r = fc2(ReLU(fc1·h)), W(x) = W₀ + Σ rₜ·(Wₜ − W₀).
     */
    @Test
    void fileRoutersComputeTheWemoeFormula() {
        SplittableRandom random = new SplittableRandom(5);
        Map<String, Router.Mlp> routers = new LinkedHashMap<>();
        List<String> groups = RoutedMerge.wemoe(BASE, TUNED).writeTo(dir.resolve("probe.onnx")).groups().stream()
                .map(RoutedMerge.GroupReport::name).toList();
        for (String g : groups) {
            int hidden = 8;
            routers.put(g, new Router.Mlp(gaussian(random, 64 * hidden, 0.2), gaussian(random, hidden, 0.2), hidden,
                    gaussian(random, hidden * 3, 0.3), gaussian(random, 3, 0.3), 64, 3));
        }
        Path folder = dir.resolve("routers");
        RouterFiles.write(folder, routers);
        Path moe = dir.resolve("file.onnx");
        RoutedMerge.Report report = RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.file(folder))
                .writeTo(moe);
        assertThat(report.groups()).extracting(RoutedMerge.GroupReport::router).containsOnly("MLP (8 hidden)");
        float[] x = inputs(16);
        float[] got = logits(moe, x);
        List<Map<String, float[]>> w = new ArrayList<>();
        for (Path p : concat(BASE, TUNED)) {
            try (OnnxModel m = OnnxModel.open(p)) {
                Map<String, float[]> values = new LinkedHashMap<>();
                m.initializers().forEach(i -> values.put(i.name(), i.toFloats()));
                w.add(values);
            }
        }
        for (int s = 0; s < 16; s++) {
            float[] in = java.util.Arrays.copyOfRange(x, s * 64, s * 64 + 64);
            float[] h = relu(layer(w, "0", in, route(routers.get(groups.get(0)), in), 64));
            float[] expected = layer(w, "2", h, route(routers.get(groups.get(1)), h), 10);
            for (int o = 0; o < 10; o++) {
                assertThat((double) got[s * 10 + o]).isCloseTo(expected[o],
                        org.assertj.core.api.Assertions.within(1e-4));
            }
        }
    }

    private static List<Path> concat(Path first, List<Path> rest) {
        List<Path> all = new ArrayList<>(List.of(first));
        all.addAll(rest);
        return all;
    }

    private static float[] gaussian(SplittableRandom r, int n, double sd) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * sd);
        }
        return v;
    }

    /** fc2(ReLU(fc1·h)) with [in, out] weights. */
    private static double[] route(Router.Mlp r, float[] h) {
        double[] hidden = new double[r.hidden()];
        for (int k = 0; k < r.hidden(); k++) {
            double s = r.fc1Bias()[k];
            for (int j = 0; j < r.width(); j++) {
                s += h[j] * r.fc1()[j * r.hidden() + k];
            }
            hidden[k] = Math.max(0, s);
        }
        double[] out = new double[r.experts()];
        for (int t = 0; t < r.experts(); t++) {
            double s = r.fc2Bias()[t];
            for (int k = 0; k < r.hidden(); k++) {
                s += hidden[k] * r.fc2()[k * r.experts() + t];
            }
            out[t] = s;
        }
        return out;
    }

    /** Gemm layer {@code name} ([out, in] weight) with weights W₀ + Σ rₜ·(Wₜ − W₀), on one sample. */
    private static float[] layer(List<Map<String, float[]>> w, String name, float[] in, double[] r, int out) {
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            double s = mixed(w, name + ".bias", o, r);
            for (int i = 0; i < in.length; i++) {
                s += mixed(w, name + ".weight", o * in.length + i, r) * in[i];
            }
            y[o] = (float) s;
        }
        return y;
    }

    private static double mixed(List<Map<String, float[]>> w, String tensor, int k, double[] r) {
        double base = w.get(0).get(tensor)[k];
        double v = base;
        for (int t = 0; t < r.length; t++) {
            v += r[t] * (w.get(t + 1).get(tensor)[k] - base);
        }
        return v;
    }

    private static float[] relu(float[] v) {
        float[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.max(0, out[i]);
        }
        return out;
    }

    /**
     * Routers fitted to the first half of each task's samples send most held-out samples to their own task, and the
     * routed model beats task arithmetic on the held-out halves. Prototype routers route better than chance (the
     * digits tasks overlap: a mirrored 0, 1 or 8 is task C's and looks like task A's).
     */
    @Test
    void fittedRoutersRouteHeldOutSamplesAndBeatTaskArithmetic() {
        List<Task> tasks = TaskFile.read(DIGITS.resolve("tasks.yaml"));
        List<Calibration> fit = new ArrayList<>();
        List<Calibration> heldOut = new ArrayList<>();
        List<Task> scored = new ArrayList<>();
        for (Task t : tasks) {
            int n = t.data().samples();
            Calibration all = t.data().inputs("x");
            fit.add(all.select(range(0, n / 2)));
            heldOut.add(all.select(range(n / 2, n)));
            scored.add(t.select(range(n / 2, n)));
        }
        Path ta = dir.resolve("ta.onnx");
        RoutedMerge.wemoe(BASE, TUNED).writeTo(ta);
        double taAccuracy = scored.stream().mapToDouble(t -> t.evaluate(ta)).average().orElseThrow();
        Path moe = dir.resolve("fitted.onnx");
        RoutedMerge.Report r = RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.fitted(fit))
                .writeTo(moe);
        double routing = mean(RoutingAccuracy.of(moe, heldOut));
        double accuracy = scored.stream().mapToDouble(t -> t.evaluate(moe)).average().orElseThrow();
        assertThat(r.routingAccuracy()).isGreaterThan(0.8);
        assertThat(routing).isGreaterThan(0.7);
        assertThat(accuracy).isGreaterThan(taAccuracy + 0.05);
        Path prototypes = dir.resolve("prototypes.onnx");
        RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.prototypes(fit)).writeTo(prototypes);
        assertThat(mean(RoutingAccuracy.of(prototypes, heldOut))).isGreaterThan(0.5);
    }

    private static double mean(Map<String, Double> values) {
        return values.values().stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }

    private static int[] range(int from, int to) {
        return java.util.stream.IntStream.range(from, to).toArray();
    }

    /**
     * Mediator-style, dense and every group routed: residuals from the average, so a router picking expert t gives
     * fine-tune t; with every sample confident (confidence near 0), each sample's logits are those of one fine-tune.
     */
    @Test
    void mediatorResidualsFromTheAverageGiveEachExpertAndConfidentSamplesTakeOne() {
        float[] x = inputs(48);
        for (int t = 0; t < 3; t++) {
            Path out = dir.resolve("mediator" + t + ".onnx");
            RoutedMerge.Report r = RoutedMerge.mediator(BASE, TUNED).density(1).routedShare(1)
                    .routers(RouterSource.picking(t)).writeTo(out);
            assertThat(r.groups()).allSatisfy(g -> assertThat(g.routed()).isTrue());
            assertThat(Decoders.maxAbsDiff(logits(out, x), logits(TUNED.get(t), x))).as("expert " + t)
                    .isLessThan(1e-4);
        }
        List<Calibration> data = new ArrayList<>();
        for (String t : List.of("a", "b", "c")) {
            data.add(Calibration.npy(DIGITS.resolve("task_" + t + "_x.npy"), "x", 64));
        }
        Path confident = dir.resolve("confident.onnx");
        RoutedMerge.mediator(BASE, TUNED).density(1).routedShare(1).confidence(1e-6)
                .routers(RouterSource.fitted(data)).writeTo(confident);
        float[] got = logits(confident, x);
        List<float[]> own = TUNED.stream().map(m -> logits(m, x)).toList();
        int[] picked = new int[3];
        for (int s = 0; s < 48; s++) {
            double best = Double.MAX_VALUE;
            int which = -1;
            for (int t = 0; t < 3; t++) {
                double d = 0;
                for (int o = 0; o < 10; o++) {
                    d = Math.max(d, Math.abs(got[s * 10 + o] - own.get(t)[s * 10 + o]));
                }
                if (d < best) {
                    best = d;
                    which = t;
                }
            }
            assertThat(best).as("sample " + s).isLessThan(1e-4);
            picked[which]++;
        }
        assertThat(picked[2]).as("mirrored samples mostly go to task C's expert").isGreaterThan(24);
    }

    /**
     * Sparse experts: with density 0.25, a router picking expert t gives the static merge (the average) plus t's
     * residual trimmed to its largest quarter, worked out here; the file stores a mask and the kept values, smaller
     * than the dense experts. With half the groups routed, the more conflicting one is routed and the other is the
     * average's.
     */
    @Test
    void sparseExpertsAreTheTrimmedResidualsAndOnlyTheMostConflictingGroupsAreRouted() throws Exception {
        Path sparse = dir.resolve("sparse.onnx");
        RoutedMerge.mediator(BASE, TUNED).density(0.25).routedShare(1).routers(RouterSource.picking(1))
                .writeTo(sparse);
        Path average = dir.resolve("average.onnx");
        var merge = Graft.merge().base(BASE).method(MergeMethods.create("task_arithmetic"))
                .parameter("lambda", 1.0 / 3);
        TUNED.forEach(m -> merge.model(m, 1.0));
        merge.writeTo(average);
        Map<String, ModelRunner.Input> trimmed = new LinkedHashMap<>();
        try (OnnxModel avg = OnnxModel.open(average); OnnxModel b = OnnxModel.open(TUNED.get(1))) {
            for (String name : List.of("0.weight", "2.weight")) {
                float[] w = avg.weight(name).orElseThrow().toFloats();
                float[] e = b.weight(name).orElseThrow().toFloats();
                float[] residual = new float[w.length];
                float[] magnitude = new float[w.length];
                for (int i = 0; i < w.length; i++) {
                    residual[i] = e[i] - w[i];
                    magnitude[i] = Math.abs(residual[i]);
                }
                float[] sorted = magnitude.clone();
                java.util.Arrays.sort(sorted);
                float cut = sorted[w.length - Math.round(0.25f * w.length)];
                for (int i = 0; i < w.length; i++) {
                    w[i] += magnitude[i] >= cut ? residual[i] : 0;
                }
                trimmed.put(name, ModelRunner.Input.of(w, avg.weight(name).orElseThrow().shape()));
            }
            for (String name : List.of("0.bias", "2.bias")) {
                trimmed.put(name, ModelRunner.Input.of(b.weight(name).orElseThrow().toFloats(),
                        b.weight(name).orElseThrow().shape()));
            }
        }
        float[] x = inputs(32);
        float[] expected;
        try (ModelRunner r = new ModelRunner(average, 1, trimmed)) {
            expected = r.run(Map.of("x", ModelRunner.Input.of(x, 32, 64)), Set.of("logits")).get("logits").values();
        }
        assertThat(Decoders.maxAbsDiff(logits(sparse, x), expected)).isLessThan(1e-4);
        Path dense = dir.resolve("dense.onnx");
        RoutedMerge.mediator(BASE, TUNED).density(1).routedShare(1).routers(RouterSource.picking(1)).writeTo(dense);
        assertThat(Files.size(sparse)).isLessThan(Files.size(dense) * 3 / 4);
        RoutedMerge.Report half = RoutedMerge.mediator(BASE, TUNED).routedShare(0.5)
                .routers(RouterSource.picking(1)).writeTo(dir.resolve("half.onnx"));
        assertThat(half.groups()).hasSize(2);
        RoutedMerge.GroupReport routed = half.groups().stream().filter(RoutedMerge.GroupReport::routed).findFirst()
                .orElseThrow();
        RoutedMerge.GroupReport kept = half.groups().stream().filter(g -> !g.routed()).findFirst().orElseThrow();
        assertThat(routed.signConflict()).isGreaterThan(kept.signConflict());
        assertThat(kept.router()).isEqualTo("static");
    }

    @Test
    void badInputsAreRefusedAndNothingIsWritten() throws java.io.IOException {
        Path out = dir.resolve("bad.onnx");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, List.of())).isInstanceOf(InvalidSettingException.class);
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routed("(")).isInstanceOf(
                InvalidSettingException.class).hasMessageContaining("regular expression");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routed("nothing.here").writeTo(out))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("select no dense layer");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.picking(3)).writeTo(out))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("expert 3");
        Path independent = Path.of("../examples/recipes/independent/mlp_seed1.onnx");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, List.of(TUNED.get(0), independent)).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("mlp_seed1.onnx");
        Path folder = dir.resolve("routers");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.file(folder)).writeTo(out))
                .isInstanceOf(GraftIoException.class).hasMessageContaining("fc2.weight.npy");
        String group = RoutedMerge.wemoe(BASE, TUNED).writeTo(dir.resolve("probe.onnx")).groups().get(0).name();
        RouterFiles.write(folder, Map.of(group, new Router.Mlp(null, null, 0, new float[64 * 2], new float[2], 64, 2)));
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.file(folder)).writeTo(out))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining(group + ".fc2.weight.npy")
                .hasMessageContaining("[3, 64]");
        assertThatThrownBy(() -> RoutedMerge.wemoe(BASE, TUNED).routers(RouterSource.fitted(List.of(
                Calibration.npy(DIGITS.resolve("task_a_x.npy"), "x", 64)))).writeTo(out))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("3 experts but 1");
        assertThat(out).doesNotExist();
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".graft"));
        }
    }
}
