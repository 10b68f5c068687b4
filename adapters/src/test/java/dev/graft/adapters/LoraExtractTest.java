package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A "fine-tune" of bge-small made by applying a known rank-6 update (and a bias) to two modules; extraction then
 * apply must give it back: exactly at full rank, and at lower rank with the error the discarded singular values
 * predict.
 */
class LoraExtractTest {
    private static final String QUERY = "encoder.layer.0.attention.self.query";
    private static final String DOWN = "encoder.layer.5.output.dense";

    @TempDir
    Path dir;
    private Path fineTuned;

    private static LoraModule random(String name, int in, int out, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[6 * in];
        float[] b = new float[out * 6];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (r.nextGaussian() / (1 + i % 6)); // decaying spectrum
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) (0.02 * r.nextGaussian());
        }
        return new LoraModule(name, 6, in, out, a, b, 1.0);
    }

    @BeforeEach
    void fineTune() {
        PeftConfig config = new PeftConfig(6, 6, false, false, Map.of(), Map.of(), List.of("query", "dense"),
                "lora_only", Map.of());
        float[] bias = new float[384];
        bias[3] = 0.5f;
        new PeftAdapter(config, Map.of(QUERY, random(QUERY, 384, 384, 1), DOWN, random(DOWN, 1536, 384, 2)),
                Map.of(QUERY, bias)).write(dir.resolve("update"));
        fineTuned = dir.resolve("fine-tuned.onnx");
        LoraApply.to(RealModels.bgeSmall()).adapter(dir.resolve("update")).writeTo(fineTuned);
    }

    private static double squaredDifference(Path x, Path y, String weight) {
        try (OnnxModel a = OnnxModel.open(x); OnnxModel b = OnnxModel.open(y)) {
            float[] u = a.weight(weight).orElseThrow().toFloats();
            float[] v = b.weight(weight).orElseThrow().toFloats();
            double d = 0;
            for (int i = 0; i < u.length; i++) {
                d += (double) (u[i] - v[i]) * (u[i] - v[i]);
            }
            return d;
        }
    }

    @Test
    void atFullRankExtractThenApplyGivesTheFineTunedModelBack() {
        Path bge = RealModels.bgeSmall();
        LoraExtract.Report r = LoraExtract.from(bge, fineTuned).rank(8).writeTo(dir.resolve("extracted"));
        assertThat(r.modules()).extracting(LoraExtract.Module::module).containsExactlyInAnyOrder(QUERY, DOWN);
        assertThat(r.modules()).allSatisfy(m -> {
            assertThat(m.rank()).isEqualTo(8);
            assertThat(m.capturedEnergy()).isCloseTo(1.0, within(1e-6));
        });
        assertThat(r.uncaptured()).isEmpty();
        Path back = dir.resolve("back.onnx");
        LoraApply.to(bge).adapter(dir.resolve("extracted")).writeTo(back);
        assertThat(squaredDifference(back, fineTuned, "onnx::MatMul_1525"))
                .isLessThan(1e-10 * squaredDifference(bge, fineTuned, "onnx::MatMul_1525"));
        var diff = new Verifier(ProbeOptions.defaults()).verify(back, fineTuned);
        assertThat(diff.maxAbs()).isLessThan(1e-4);
    }

    @Test
    void atLowerRankTheErrorIsWhatTheDiscardedSingularValuesPredict() {
        Path bge = RealModels.bgeSmall();
        LoraExtract.Report r = LoraExtract.from(bge, fineTuned).rank(3).writeTo(dir.resolve("extracted"));
        Path back = dir.resolve("back.onnx");
        LoraApply.to(bge).adapter(dir.resolve("extracted")).writeTo(back);
        for (LoraExtract.Module m : r.modules()) {
            double total = squaredDifference(bge, fineTuned, m.weight());
            double predicted = (1 - m.capturedEnergy()) * total;
            assertThat(m.capturedEnergy()).isBetween(0.5, 0.999);
            assertThat(squaredDifference(back, fineTuned, m.weight())).isCloseTo(predicted, within(1e-3 * total));
        }
        LoraExtract.Report byEnergy = LoraExtract.from(bge, fineTuned).rank(16).energy(0.95)
                .writeTo(dir.resolve("by-energy"));
        assertThat(byEnergy.modules()).allSatisfy(m -> assertThat(m.rank()).isBetween(2, 6)
                .satisfies(k -> assertThat(m.capturedEnergy()).isGreaterThanOrEqualTo(0.95 - 1e-9)));
        PeftAdapter written = PeftAdapter.read(dir.resolve("by-energy"));
        assertThat(written.modules().values()).allSatisfy(m -> assertThat(m.scale()).isEqualTo(1.0));
    }

    /** Without biases the query bias change is reported, not carried, and the adapter holds no bias. */
    @Test
    void biasesMayBeLeftOutAndAreThenReportedUncaptured() {
        LoraExtract.Report r = LoraExtract.from(RealModels.bgeSmall(), fineTuned).rank(6).biases(false)
                .writeTo(dir.resolve("no-biases"));
        assertThat(PeftAdapter.read(dir.resolve("no-biases")).biases()).isEmpty();
        assertThat(r.uncaptured()).extracting(LoraExtract.Uncaptured::tensor).containsExactly(QUERY + ".bias");
        assertThat(PeftAdapter.read(writeWithBiases()).biases()).containsKey(QUERY);
    }

    private Path writeWithBiases() {
        LoraExtract.from(RealModels.bgeSmall(), fineTuned).rank(6).writeTo(dir.resolve("with-biases"));
        return dir.resolve("with-biases");
    }

    @Test
    void identicalModelsHaveNothingToExtract() {
        Path bge = RealModels.bgeSmall();
        assertThatThrownBy(() -> LoraExtract.from(bge, bge).writeTo(dir.resolve("none")))
                .isInstanceOf(GraftException.class).hasMessageContaining("no update to extract");
    }
}
