package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.Graft;
import dev.graft.data.Calibration;
import dev.graft.merge.MergeMethods;
import dev.graft.moe.GateSource;
import dev.graft.moe.RouterSource;
import dev.graft.moe.RoutingAccuracy;
import dev.graft.moe.RoutedMerge;
import dev.graft.moe.Upcycle;
import dev.graft.testing.RealModels;
import dev.graft.testing.Decoders;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * WEMoE on a real transformer: bge-small and two of the text tasks' LoRA fine-tunes (rebuilt from their adapters),
 * run in ONNX Runtime. Exact properties: a router picking one expert, with every dense layer routed, reproduces that
 * fine-tune; constant routers give task arithmetic; routers read padded batches as they read each text alone.
 */
class MoeTextTest {
    private static final Path FOLDER = Path.of("recipes/text-tasks");
    @TempDir
    static Path dir;
    private static Path base;
    private static Path tokenizer;
    private static List<Path> experts;
    private static TextTasks tasks;

    @BeforeAll
    static void fineTunes() {
        base = RealModels.bgeSmall();
        tokenizer = base.resolveSibling("bge-small-en-v1.5-tokenizer.json");
        tasks = new TextTasks(FOLDER, base, tokenizer);
        experts = List.of(tasks.rebuild("licence", dir.resolve("licence.onnx")),
                tasks.rebuild("config", dir.resolve("config.onnx")));
    }

    /** Texts of both tasks, of different lengths, batched with padding. */
    private static Calibration texts() {
        List<Calibration> both = tasks.texts("validation", 6);
        List<String> lines = new ArrayList<>();
        for (String task : List.of("licence", "config")) {
            dev.graft.data.TextFiles.lines(FOLDER.resolve(task + "_validation.tsv")).stream().limit(6)
                    .map(l -> l.substring(l.indexOf('\t') + 1)).forEach(lines::add);
        }
        assertThat(both).hasSize(5);
        return Calibration.texts("mixed", lines, tokenizer, 64);
    }

    private static float[] hidden(Path model, Map<String, ModelRunner.Input> batch) {
        try (ModelRunner r = new ModelRunner(model, 2)) {
            return r.run(batch, Set.of("last_hidden_state")).get("last_hidden_state").values();
        }
    }

    @Test
    void aRouterPickingOneExpertReproducesItsFineTune() {
        Map<String, ModelRunner.Input> batch = texts().batches().get(0);
        for (int t = 0; t < 2; t++) {
            Path moe = dir.resolve("pick" + t + ".onnx");
            RoutedMerge.Report r = RoutedMerge.wemoe(base, experts).routed("all")
                    .routers(RouterSource.picking(t)).writeTo(moe);
            assertThat(r.groups()).hasSize(12);
            assertThat(r.groups().get(0).weights()).as("query, value, attention output, intermediate, output: the "
                    + "adapters leave the key alone, so it is not routed").hasSize(5);
            assertThat(Decoders.maxAbsDiff(hidden(moe, batch), hidden(experts.get(t), batch))).as("expert " + t)
                    .isLessThan(2e-4);
        }
    }

    @Test
    void constantRoutersAreTaskArithmetic() {
        Path moe = dir.resolve("constant.onnx");
        RoutedMerge.wemoe(base, experts).lambda(0.7).writeTo(moe);
        Path ta = dir.resolve("ta.onnx");
        var merge = Graft.merge().base(base).method(MergeMethods.create("task_arithmetic")).parameter("lambda", 0.7);
        experts.forEach(e -> merge.model(e, 1.0));
        merge.writeTo(ta);
        Map<String, ModelRunner.Input> batch = texts().batches().get(0);
        assertThat(Decoders.maxAbsDiff(hidden(moe, batch), hidden(ta, batch))).isLessThan(2e-4);
    }

    /**
     * Fitted routers send every validation text of the two tasks to its own expert, and a text's hidden states do
     * not depend on the texts padded beside it (the routers pool over real tokens only).
     */
    @Test
    void fittedRoutersRouteTextsAndIgnorePadding() {
        Path moe = dir.resolve("fitted.onnx");
        List<Calibration> train = tasks.texts("train", 32);
        RoutedMerge.wemoe(base, experts).routers(RouterSource.fitted(List.of(train.get(0), train.get(2))))
                .writeTo(moe);
        List<Calibration> validation = tasks.texts("validation", 20);
        Map<String, Double> routing = RoutingAccuracy.of(moe, List.of(validation.get(0), validation.get(2)));
        assertThat(routing).hasSize(12);
        assertThat(routing.values()).allSatisfy(a -> assertThat(a).isGreaterThan(0.9));
        Calibration mixed = texts();
        Map<String, ModelRunner.Input> batch = mixed.batches().get(0);
        long[] shape = batch.get("input_ids").shape();
        assertThat(batch.get("attention_mask").longs()).contains(0L);
        float[] together = hidden(moe, batch);
        int width = together.length / (int) (shape[0] * shape[1]);
        for (int b = 0; b < shape[0]; b++) {
            int real = 0;
            for (int t = 0; t < shape[1]; t++) {
                real += (int) batch.get("attention_mask").longs()[b * (int) shape[1] + t];
            }
            Map<String, ModelRunner.Input> alone = new java.util.HashMap<>();
            for (Map.Entry<String, ModelRunner.Input> e : batch.entrySet()) {
                alone.put(e.getKey(), slice(e.getValue(), b, real));
            }
            float[] own = hidden(moe, alone);
            float[] inBatch = new float[real * width];
            System.arraycopy(together, b * (int) shape[1] * width, inBatch, 0, real * width);
            assertThat(Decoders.maxAbsDiff(own, inBatch)).as("text " + b).isLessThan(2e-4);
        }
    }

    /**
     * An upcycled bge-small whose experts are all the base is the base, in standard ops exactly and in
     * {@code com.microsoft.MoE} (whose CPU kernel computes GELU in the tanh approximation) nearly; with the two
     * fine-tunes as experts and fitted gates, the mixture differs from the base.
     */
    @Test
    void upcycledEncoderWithIdenticalExpertsIsTheEncoder() {
        Map<String, ModelRunner.Input> batch = texts().batches().get(0);
        float[] dense = hidden(base, batch);
        Path standard = dir.resolve("upcycled-standard.onnx");
        Upcycle.Report r = Upcycle.of(base, List.of(base, base)).gates(GateSource.random(5)).writeTo(standard);
        assertThat(r.layers()).hasSize(12).allSatisfy(l -> assertThat(l.activation()).isEqualTo("gelu"));
        assertThat(Decoders.maxAbsDiff(hidden(standard, batch), dense)).isLessThan(2e-4);
        Path contrib = dir.resolve("upcycled-contrib.onnx");
        Upcycle.of(base, List.of(base, base)).gates(GateSource.random(5)).form(Upcycle.Form.CONTRIB)
                .writeTo(contrib);
        double approximate = realTokenDiff(hidden(contrib, batch), dense, batch.get("attention_mask").longs());
        assertThat(approximate).as("tanh GELU: measured 0.011 on real tokens whose values reach 4.3 (padding, "
                + "which nothing reads, differs more)").isGreaterThan(0).isLessThan(0.05);
        Path mixed = dir.resolve("upcycled-fitted.onnx");
        List<Calibration> train = tasks.texts("train", 16);
        Upcycle.of(base, experts).gates(GateSource.fitted(List.of(train.get(0), train.get(2)))).writeTo(mixed);
        assertThat(Decoders.maxAbsDiff(hidden(mixed, batch), dense)).isGreaterThan(1e-2);
    }

    /** The largest difference between two {@code [batch, positions, width]} values at the positions whose mask is 1. */
    private static double realTokenDiff(float[] a, float[] b, long[] mask) {
        int width = a.length / mask.length;
        double max = 0;
        for (int t = 0; t < mask.length; t++) {
            for (int j = 0; mask[t] != 0 && j < width; j++) {
                max = Math.max(max, Math.abs(a[t * width + j] - b[t * width + j]));
            }
        }
        return max;
    }

    /** Row {@code b}'s first {@code length} entries of a {@code [batch, positions]} input, as a batch of one. */
    private static ModelRunner.Input slice(ModelRunner.Input in, int b, int length) {
        long[] row = new long[length];
        System.arraycopy(in.longs(), b * (int) in.shape()[1], row, 0, length);
        return ModelRunner.Input.ofLongs(row, 1, length);
    }
}
