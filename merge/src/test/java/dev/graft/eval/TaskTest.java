package dev.graft.eval;

import static dev.graft.testing.TinyModels.floats;
import static dev.graft.testing.TinyModels.node;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Task scores on small models whose outputs are worked out here from their weights: accuracy and cross-entropy
 * with and without a task head (weights or an ONNX model), perplexity of a tiny decoder on padded batches, and
 * weights replaced in memory.
 */
class TaskTest {
    private static final int N = 60;
    private static final int IN = 4;
    private static final int FEATURES = 3;
    private static final int CLASSES = 2;

    @TempDir
    Path dir;

    private final Random random = new Random(7);
    private final float[] w1 = TinyModels.random(random, IN * FEATURES);
    private final float[] w2 = TinyModels.random(random, FEATURES * CLASSES);
    private final float[] bias = TinyModels.random(random, CLASSES);
    private final float[] x = TinyModels.random(random, N * IN);
    private final int[] labels = random.ints(N, 0, CLASSES).toArray();

    private static ValueInfoProto value(String name, int type) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type))).build();
    }

    /** x·W1 (the features), then ·W2 + b (the logits) when {@code withHead}. */
    private Path model(String file, boolean withHead) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("g")
                .addInput(value("x", TensorProto.DataType.FLOAT_VALUE))
                .addInitializer(floats("w1", w1, IN, FEATURES))
                .addNode(node("MatMul", "m1", new String[] {"x", "w1"}, withHead ? "f" : "out"));
        if (withHead) {
            g.addInitializer(floats("w2", w2, FEATURES, CLASSES)).addInitializer(floats("b", bias, CLASSES))
                    .addNode(node("MatMul", "m2", new String[] {"f", "w2"}, "z"))
                    .addNode(node("Add", "add", new String[] {"z", "b"}, "out"));
        }
        g.addOutput(value("out", TensorProto.DataType.FLOAT_VALUE));
        return TinyModels.save(TinyModels.model(g), dir.resolve(file));
    }

    private TaskData data() {
        return TaskData.of(Calibration.of("x", List.of(Map.of("x", ModelRunner.Input.of(x, N, IN)))), labels);
    }

    /** The logits of sample i, in double, from the weights. */
    private double[] logits(int i) {
        double[] out = new double[CLASSES];
        for (int k = 0; k < CLASSES; k++) {
            out[k] = bias[k];
            for (int f = 0; f < FEATURES; f++) {
                double feature = 0;
                for (int c = 0; c < IN; c++) {
                    feature += (double) x[i * IN + c] * w1[c * FEATURES + f];
                }
                out[k] += feature * w2[f * CLASSES + k];
            }
        }
        return out;
    }

    @Test
    void accuracyAndCrossEntropyAreTheFormulasOnTheLogits() {
        double correct = 0;
        double loss = 0;
        for (int i = 0; i < N; i++) {
            double[] z = logits(i);
            int best = z[1] > z[0] ? 1 : 0;
            correct += best == labels[i] ? 1 : 0;
            double max = Math.max(z[0], z[1]);
            loss += max + Math.log(Math.exp(z[0] - max) + Math.exp(z[1] - max)) - z[labels[i]];
        }
        Path classifier = model("classifier.onnx", true);
        assertThat(Task.of("t", data(), Metric.ACCURACY).evaluate(classifier)).isEqualTo(correct / N);
        assertThat(Task.of("t", data(), Metric.CROSS_ENTROPY).evaluate(classifier)).isCloseTo(loss / N, within(1e-5));
        assertThat(correct / N).isStrictlyBetween(0.2, 0.8); // the test can tell a wrong formula apart
    }

    /** A task on chosen samples scores their logits (and their labels) only; bad indices are refused by name. */
    @Test
    void aSelectionScoresItsSamplesOnly() {
        int[] picked = {3, 7, 8, 20, 41, 59};
        double correct = 0;
        for (int i : picked) {
            double[] z = logits(i);
            correct += (z[1] > z[0] ? 1 : 0) == labels[i] ? 1 : 0;
        }
        Path classifier = model("classifier.onnx", true);
        Task selected = Task.of("t", data(), Metric.ACCURACY).select(picked);
        assertThat(selected.evaluate(classifier)).isEqualTo(correct / picked.length);
        try (Candidate.Session s = Candidate.of(classifier).open()) {
            float[][] rows = selected.logits(s);
            assertThat(rows).hasNumberOfRows(picked.length);
            for (int k = 0; k < picked.length; k++) {
                assertThat((double) rows[k][1]).isCloseTo(logits(picked[k])[1], within(1e-5));
            }
        }
        assertThatThrownBy(() -> Task.of("t", data(), Metric.ACCURACY).select(new int[] {4, 2}))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("task 't'")
                .hasMessageContaining("must ascend");
        assertThatThrownBy(() -> Task.of("t", data(), Metric.ACCURACY).select(new int[] {N}))
                .isInstanceOf(InvalidSettingException.class);
    }

    @Test
    void aHeadOnTheFeaturesScoresAsTheModelWithTheHeadInside() {
        Path classifier = model("classifier.onnx", true);
        Path features = model("features.onnx", false);
        Path headModel = TinyModels.save(TinyModels.model(GraphProto.newBuilder().setName("head")
                .addInput(value("f", TensorProto.DataType.FLOAT_VALUE))
                .addInitializer(floats("w2", w2, FEATURES, CLASSES)).addInitializer(floats("b", bias, CLASSES))
                .addNode(node("MatMul", "m2", new String[] {"f", "w2"}, "z"))
                .addNode(node("Add", "add", new String[] {"z", "b"}, "logits"))
                .addOutput(value("logits", TensorProto.DataType.FLOAT_VALUE))), dir.resolve("head.onnx"));
        float[] rows = new float[CLASSES * FEATURES]; // [classes, features]: W2 transposed
        for (int f = 0; f < FEATURES; f++) {
            for (int k = 0; k < CLASSES; k++) {
                rows[k * FEATURES + f] = w2[f * CLASSES + k];
            }
        }
        for (Metric m : List.of(Metric.ACCURACY, Metric.CROSS_ENTROPY)) {
            double inside = Task.of("t", data(), m).evaluate(classifier);
            assertThat(Task.of("t", data(), m).withHead(Head.linear(rows, bias, CLASSES, FEATURES)).evaluate(features))
                    .isCloseTo(inside, within(1e-6));
            assertThat(Task.of("t", data(), m).withHead(Head.model(headModel)).evaluate(features))
                    .isCloseTo(inside, within(1e-6));
        }
        Head tooNarrow = Head.linear(new float[CLASSES * 2], null, CLASSES, 2);
        assertThatThrownBy(() -> Task.of("t", data(), Metric.ACCURACY).withHead(tooNarrow).evaluate(features))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("features.onnx")
                .hasMessageContaining("gives 3 features per sample; the head takes 2");
    }

    @Test
    void weightsReplacedInMemoryAreWhatTheModelRuns() {
        Path classifier = model("classifier.onnx", true);
        float[] flipped = w2.clone();
        for (int i = 0; i < flipped.length; i++) {
            flipped[i] = -flipped[i];
        }
        float[] saved = w2.clone();
        System.arraycopy(flipped, 0, w2, 0, w2.length);
        Path written = model("flipped.onnx", true);
        System.arraycopy(saved, 0, w2, 0, w2.length);
        Task task = Task.of("t", data(), Metric.CROSS_ENTROPY);
        Candidate inMemory = Candidate.inMemory("flipped", classifier,
                Map.of("w2", ModelRunner.Input.of(flipped, FEATURES, CLASSES)));
        assertThat(task.score(inMemory)).isCloseTo(task.evaluate(written), within(1e-6))
                .isNotCloseTo(task.evaluate(classifier), within(1e-3));
        assertThat(Candidate.ensemble("twice", List.of(classifier, classifier)).name()).isEqualTo("twice");
        assertThat(task.score(Candidate.ensemble("twice", List.of(classifier, classifier))))
                .isCloseTo(task.evaluate(classifier), within(1e-6));

        assertThatThrownBy(() -> Candidate.inMemory("bad", classifier,
                Map.of("w2", ModelRunner.Input.of(flipped, CLASSES, FEATURES))))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("classifier.onnx")
                .hasMessageContaining("w2").hasMessageContaining("[3, 2]").hasMessageContaining("[2, 3]");
        assertThatThrownBy(() -> Candidate.inMemory("bad", classifier,
                Map.of("nope", ModelRunner.Input.of(flipped, FEATURES, CLASSES))))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("no such initializer");
    }

    @Test
    void badSettingsAreTypedErrors() {
        Path classifier = model("classifier.onnx", true);
        TaskData unlabelled = TaskData.of(Calibration.of("x", List.of(Map.of("x", ModelRunner.Input.of(x, N, IN)))),
                null);
        assertThatThrownBy(() -> Task.of("t", unlabelled, Metric.ACCURACY))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("needs a label per sample");
        assertThatThrownBy(() -> Task.of("t", unlabelled, Metric.MRR))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("query/document pairs");
        assertThatThrownBy(() -> Task.of("t", data(), Metric.ACCURACY).withOutput("logits").evaluate(classifier))
                .isInstanceOf(IncompatibleModelsException.class).hasMessageContaining("classifier.onnx")
                .hasMessageContaining("logits").hasMessageContaining("[out]");
        int[] outOfRange = labels.clone();
        outOfRange[5] = 7;
        TaskData wrong = TaskData.of(Calibration.of("x", List.of(Map.of("x", ModelRunner.Input.of(x, N, IN)))),
                outOfRange);
        assertThatThrownBy(() -> Task.of("t", wrong, Metric.ACCURACY).evaluate(classifier))
                .isInstanceOf(InvalidSettingException.class).hasMessageContaining("sample 5")
                .hasMessageContaining("label 7").hasMessageContaining("2 logits");
        assertThatThrownBy(() -> Metric.named("f1")).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("accuracy, cross_entropy, entropy, perplexity, mrr, similarity");
        assertThatThrownBy(() -> Evaluation.of(List.of(Task.of("t", data(), Metric.ACCURACY),
                Task.of("t", data(), Metric.CROSS_ENTROPY)))).isInstanceOf(InvalidSettingException.class)
                .hasMessageContaining("two tasks are named 't'");
    }

    /**
     * A decoder of an embedding and an unembedding ({@code logits = E[ids]·U}) on a padded batch: the perplexity is
     * exp of the mean negative log-likelihood of each next real token, worked out here.
     */
    @Test
    void perplexityCountsEachNextRealToken() {
        int vocabulary = 7;
        int width = 3;
        float[] e = TinyModels.random(random, vocabulary * width);
        float[] u = TinyModels.random(random, width * vocabulary);
        Path decoder = TinyModels.save(TinyModels.model(GraphProto.newBuilder().setName("decoder")
                .addInput(value("input_ids", TensorProto.DataType.INT64_VALUE))
                .addInput(value("attention_mask", TensorProto.DataType.INT64_VALUE))
                .addInitializer(floats("embed", e, vocabulary, width)).addInitializer(floats("unembed", u, width,
                        vocabulary))
                .addNode(node("Gather", "gather", new String[] {"embed", "input_ids"}, "h"))
                .addNode(node("MatMul", "lm_head", new String[] {"h", "unembed"}, "logits"))
                .addOutput(value("logits", TensorProto.DataType.FLOAT_VALUE))), dir.resolve("decoder.onnx"));
        long[] ids = {1, 4, 2, 6, 3, 5, 0, 0};
        long[] mask = {1, 1, 1, 1, 1, 1, 0, 0};
        Calibration batch = Calibration.of("ids", List.of(Map.of("input_ids", ModelRunner.Input.ofLongs(ids, 2, 4),
                "attention_mask", ModelRunner.Input.ofLongs(mask, 2, 4))));
        double nll = 0;
        int count = 0;
        for (int b = 0; b < 2; b++) {
            for (int t = 0; t < 3; t++) {
                int here = b * 4 + t;
                if (mask[here + 1] == 0) {
                    continue;
                }
                double[] z = new double[vocabulary];
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocabulary; v++) {
                    for (int c = 0; c < width; c++) {
                        z[v] += (double) e[(int) ids[here] * width + c] * u[c * vocabulary + v];
                    }
                    max = Math.max(max, z[v]);
                }
                double sum = 0;
                for (double zv : z) {
                    sum += Math.exp(zv - max);
                }
                nll -= z[(int) ids[here + 1]] - max - Math.log(sum);
                count++;
            }
        }
        assertThat(count).isEqualTo(4); // three in the first sample, one in the second
        assertThat(Task.of("lm", TaskData.of(batch, null), Metric.PERPLEXITY).evaluate(decoder))
                .isCloseTo(Math.exp(nll / count), within(1e-4));
    }
}
