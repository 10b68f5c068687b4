package dev.graft.align;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightMatchingTest {
    @TempDir
    Path dir;

    /**
     * A model permuted at random in every group (heads, each head's dimensions, FFN units) is matched back to
     * its original: every permutation is recovered exactly (the inverse of the planted one), and the aligned
     * model computes what the original does.
     */
    @Test
    void recoversAPlantedPermutationOfEveryGroupOfBge() {
        Path bge = RealModels.bgeSmall();
        PermutationSpec spec = PermutationInferenceTest.spec(bge, false);
        Permutations planted = Permutations.random(spec, 21);
        Path shuffled = dir.resolve("shuffled.onnx");
        Path aligned = dir.resolve("aligned.onnx");
        WeightMatching.Result result;
        try (OnnxModel a = OnnxModel.open(bge)) {
            ModelPermuter.write(a, planted, shuffled, Map.of());
            try (OnnxModel b = OnnxModel.open(shuffled)) {
                result = WeightMatching.match(a, b, spec, 7, 20, WeightMatching.attentionKeyBiases(b));
                ModelPermuter.write(b, result.permutations(), aligned, Map.of());
            }
        }
        Permutations inverse = planted.inverse();
        for (int g = 0; g < spec.groups().size(); g++) {
            assertThat(result.permutations().get(g)).as(spec.groups().get(g).name()).containsExactly(inverse.get(g));
        }
        assertThat(result.scores()).allSatisfy(s -> assertThat(s.matched()).isGreaterThanOrEqualTo(s.identity()));
        Verifier verifier = new Verifier(ProbeOptions.defaults());
        assertThat(verifier.verify(shuffled, bge).maxRel()).isLessThan(1e-4); // shuffling alone keeps the function
        assertThat(verifier.verify(aligned, bge).maxRel()).isLessThan(1e-4);
    }

    @Test
    void composingWithTheInverseGivesTheIdentityAlsoForNestedGroups() {
        PermutationSpec spec = PermutationInferenceTest.spec(RealModels.bgeSmall(), false);
        Permutations p = Permutations.random(spec, 3);
        Permutations q = Permutations.random(spec, 4);
        Permutations identity = Permutations.identity(spec);
        for (int g = 0; g < spec.groups().size(); g++) {
            assertThat(p.then(p.inverse()).get(g)).containsExactly(identity.get(g));
            assertThat(p.inverse().then(p).get(g)).containsExactly(identity.get(g));
        }
        // applying p then q to a weight equals applying (p then q)
        float[] w = new float[384 * 384];
        for (int i = 0; i < w.length; i++) {
            w[i] = i;
        }
        String query = "onnx::MatMul_1525";
        long[] shape = {384, 384};
        float[] twice = q.apply(query, shape, p.apply(query, shape, w));
        assertThat(p.then(q).apply(query, shape, w)).containsExactly(twice);
    }

    @Test
    void independentlyDrawnMlpWeightsAlignToTheirPermutedSelves() {
        Path mlp = TinyModels.save(TinyModels.mlp(9), dir.resolve("mlp.onnx"));
        PermutationSpec spec = PermutationInferenceTest.spec(mlp, false);
        Permutations planted = Permutations.random(spec, 1);
        Path shuffled = dir.resolve("mlp-shuffled.onnx");
        try (OnnxModel a = OnnxModel.open(mlp)) {
            ModelPermuter.write(a, planted, shuffled, Map.of());
            try (OnnxModel b = OnnxModel.open(shuffled)) {
                WeightMatching.Result r = WeightMatching.match(a, b, spec, 0, 10, name -> false);
                assertThat(r.permutations().get(0)).containsExactly(planted.inverse().get(0));
                assertThat(r.passes()).isLessThanOrEqualTo(2);
            }
        }
    }
}
