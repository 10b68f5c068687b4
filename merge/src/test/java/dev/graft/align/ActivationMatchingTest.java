package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.data.Calibration;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivationMatchingTest {
    private static final Path INDEPENDENT = Path.of("../examples/recipes/independent");
    private static final Path TEXT = Path.of("../examples/recipes/text/sentences.txt");

    @TempDir
    Path dir;

    private Permutations plantedAndRecovered(Path model, Calibration data, long seed, Path shuffled) {
        PermutationSpec spec = PermutationInferenceTest.spec(model, false);
        Permutations planted = Permutations.random(spec, seed);
        try (OnnxModel m = OnnxModel.open(model)) {
            ModelPermuter.write(m, planted, shuffled, Map.of());
        }
        ActivationMatching.Result r = ActivationMatching.match(model, shuffled, spec, data);
        assertThat(r.unobserved()).isEmpty();
        Permutations inverse = planted.inverse();
        for (int g = 0; g < spec.groups().size(); g++) {
            assertThat(r.permutations().get(g)).as(spec.groups().get(g).name()).containsExactly(inverse.get(g));
        }
        return r.permutations();
    }

    /**
     * Units that never activate on the calibration data (dead ReLUs) cannot be told apart by their activations,
     * so for the CNN the property is: most units come back exactly, and on the calibration data the aligned copy
     * computes exactly what the original does.
     */
    @Test
    void alignsAPlantedPermutationOfTheCnnFromNumpyCalibrationData() {
        Path cnn = INDEPENDENT.resolve("cnn_seed1.onnx");
        Calibration data = Calibration.npy(INDEPENDENT.resolve("calibration.npy"), "x", 64);
        PermutationSpec spec = PermutationInferenceTest.spec(cnn, false);
        Permutations planted = Permutations.random(spec, 2);
        Path shuffled = dir.resolve("cnn.onnx");
        Path aligned = dir.resolve("aligned.onnx");
        try (OnnxModel m = OnnxModel.open(cnn)) {
            ModelPermuter.write(m, planted, shuffled, Map.of());
        }
        ActivationMatching.Result r = ActivationMatching.match(cnn, shuffled, spec, data);
        try (OnnxModel m = OnnxModel.open(shuffled)) {
            ModelPermuter.write(m, r.permutations(), aligned, Map.of());
        }
        int right = 0;
        int total = 0;
        for (int g = 0; g < spec.groups().size(); g++) {
            int[] want = planted.inverse().get(g);
            int[] got = r.permutations().get(g);
            for (int i = 0; i < want.length; i++) {
                right += want[i] == got[i] ? 1 : 0;
                total++;
            }
        }
        assertThat((double) right / total).isGreaterThan(0.6);
        ModelRunner.Input input = data.batches().get(0).get("x");
        try (ModelRunner original = new ModelRunner(cnn, 1); ModelRunner copy = new ModelRunner(aligned, 1)) {
            float[] want = original.run(Map.of("x", input), java.util.Set.of()).get("logits").values();
            float[] got = copy.run(Map.of("x", input), java.util.Set.of()).get("logits").values();
            for (int i = 0; i < want.length; i++) {
                assertThat(got[i]).isCloseTo(want[i], org.assertj.core.api.Assertions.within(1e-4f));
            }
        }
    }

    /** Text calibration through the model's tokenizer; heads and each head's dimensions come back exactly. */
    @Test
    void recoversPlantedPermutationsOfBgeFromText() {
        Path bge = RealModels.bgeSmall();
        Calibration text = Calibration.text(TEXT, bge.resolveSibling("bge-small-en-v1.5-tokenizer.json"), 48, 64);
        assertThat(text.samples()).isEqualTo(48);
        plantedAndRecovered(bge, text, 9, dir.resolve("bge.onnx"));
    }

    @Test
    void independentCnnsAlignedByActivationsAverageWell() {
        Path a = INDEPENDENT.resolve("cnn_seed1.onnx");
        Path b = INDEPENDENT.resolve("cnn_seed2.onnx");
        Alignment.Result r = Alignment.activationMatching(Calibration.npy(INDEPENDENT.resolve("calibration.npy"),
                "x", 64)).alignTo(b, a, dir.resolve("aligned.onnx"));
        assertThat(r.report().method()).startsWith("activation matching on");
        assertThat(r.report().groups()).allSatisfy(g -> assertThat(g.matched()).isGreaterThanOrEqualTo(g.identity()));
        assertThat(r.report().groups().stream().mapToInt(Alignment.GroupReport::moved).sum()).isGreaterThan(20);
    }
}
