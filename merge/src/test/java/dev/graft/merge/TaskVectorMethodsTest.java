package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.graft.InvalidSettingException;
import dev.graft.plan.TensorInputs;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The task-vector family on hand-made tensors; every expected value is worked out by hand in the comments. */
class TaskVectorMethodsTest {
    private static final float[] ZERO4 = {0, 0, 0, 0};

    @Test
    void taskArithmetic() {
        // δ1 = [1,2], δ2 = [-1,4]; Σ wδ = 1·[1,2] + 0.5·[-1,4] = [0.5, 4]
        Inputs in = Inputs.base(1, 1).model(1, 2, 3).model(0.5, 0, 5);
        assertThat(in.run(new TaskArithmetic())).containsExactly(1.5f, 5f);
        assertThat(in.global("lambda", 0.5).run(new TaskArithmetic())).containsExactly(1.25f, 3f);
        // normalize: [0.5, 4] / 1.5 = [1/3, 8/3]
        float[] normalized = Inputs.base(1, 1).model(1, 2, 3).model(0.5, 0, 5).global("normalize", 1)
                .run(new TaskArithmetic());
        assertThat(normalized[0]).isCloseTo(1 + 1f / 3, within(1e-6f));
        assertThat(normalized[1]).isCloseTo(1 + 8f / 3, within(1e-6f));
    }

    @Test
    void weightsSummingToZeroReturnTheBase() {
        float[] base = {0.5f, -2f, 3f};
        float[] model = {1.5f, 7f, -1f};
        assertThat(Inputs.base(base).model(1, model).model(-1, model).run(new TaskArithmetic())).containsExactly(base);
        assertThat(Inputs.base(base).model(1, model).model(-1, model).global("normalize", 1)
                .run(new TaskArithmetic())).containsExactly(base);
    }

    /**
     * δ1 = [1, -2, 3, 0.5], δ2 = [-1, -1, 2, -3], density 0.5 keeps k = 2 per model: δ̂1 = [0, -2, 3, 0],
     * δ̂2 = [0, 0, 2, -3]. With weights 1, 1 both conventions vote [+, -, +, -] and average the agreeing:
     * [0, -2, (3+2)/2, -3].
     */
    @Test
    void tiesWithEqualWeights() {
        for (Convention c : Convention.values()) {
            Inputs in = Inputs.base(ZERO4).model(Map.of("weight", 1.0, "density", 0.5), 1, -2, 3, 0.5f)
                    .model(Map.of("weight", 1.0, "density", 0.5), -1, -1, 2, -3);
            assertThat(in.run(new Ties(c))).as(c.name()).containsExactly(0, -2, 2.5f, -3);
            assertThat(in.recorder.trimmed()).containsExactly(0.5, 0.5);
        }
    }

    /**
     * Weights 2 and 1: weighted δ̂ = [0,-4,6,0] and [0,0,2,-3]. mergekit: Σ wδ̂m / Σ wm = [0, -4/2, (6+2)/3, -3/1].
     * Paper: mean over agreeing entries Σ wδ̂m / Σ m = [0, -4/1, (6+2)/2, -3/1].
     */
    @Test
    void tiesDisjointMergeDiffersByConvention() {
        Inputs in = Inputs.base(ZERO4).model(Map.of("weight", 2.0, "density", 0.5), 1, -2, 3, 0.5f)
                .model(Map.of("weight", 1.0, "density", 0.5), -1, -1, 2, -3);
        float[] mk = in.run(new Ties(Convention.MERGEKIT));
        assertThat(mk[0]).isZero();
        assertThat(mk[1]).isEqualTo(-2f);
        assertThat(mk[2]).isCloseTo(8f / 3, within(1e-6f));
        assertThat(mk[3]).isEqualTo(-3f);
        assertThat(in.run(new Ties(Convention.PAPER))).containsExactly(0, -4, 4, -3);
    }

    /**
     * Entries tied at the trim's cut are kept by index, also past the first block of the merge's block loop: a
     * task vector of 3·2048 entries all of magnitude 1 (alternating signs), density 0.5, keeps exactly its first
     * 3072 entries.
     */
    @Test
    void tiesKeepsEntriesTiedAtTheCutByIndexAcrossBlocks() {
        int n = 3 * 2048;
        float[] delta = new float[n];
        for (int i = 0; i < n; i++) {
            delta[i] = i % 2 == 0 ? 1f : -1f;
        }
        float[] out = Inputs.base(new float[n]).model(Map.of("weight", 1.0, "density", 0.5), delta).run(new Ties());
        for (int i = 0; i < n; i++) {
            assertThat(out[i]).as("entry %d", i).isEqualTo(i < n / 2 ? delta[i] : 0f);
        }
    }

    /** δ1 = [1] with weight 4, δ2 = [-3] with weight 1: mergekit votes 4−3 > 0 → +, paper votes 1−3 < 0 → −. */
    @Test
    void signElectionDiffersByConvention() {
        Inputs in = Inputs.base(0).model(4, 1).model(1, -3);
        assertThat(in.run(new Ties(Convention.MERGEKIT))).containsExactly(1f); // 4·1 / 4
        assertThat(in.run(new Ties(Convention.PAPER))).containsExactly(-3f); // 1·(−3) / 1
        // counting signs: one + and one −: a tie goes to +, so model 1 alone: 4·1 / 1
        assertThat(in.global("sign_by_count", 1).run(new Ties(Convention.PAPER))).containsExactly(4f);
    }

    @Test
    void tiesAtFullDensityWithoutConflictsIsNormalizedTaskArithmetic() {
        SplittableRandom r = new SplittableRandom(5);
        float[] base = new float[50];
        float[] a = new float[50];
        float[] b = new float[50];
        for (int i = 0; i < 50; i++) {
            base[i] = (float) r.nextGaussian();
            float sign = r.nextBoolean() ? 1 : -1; // same sign in both task vectors: no conflicts
            a[i] = base[i] + sign * (float) (0.1 + r.nextDouble());
            b[i] = base[i] + sign * (float) (0.1 + r.nextDouble());
        }
        float[] ties = Inputs.base(base).model(0.7, a).model(0.3, b).run(new Ties());
        float[] ta = Inputs.base(base).model(0.7, a).model(0.3, b).global("normalize", 1).run(new TaskArithmetic());
        assertThat(ties).containsExactly(ta);
    }

    @Test
    void mergingAModelWithItselfReturnsIt() {
        float[] base = {1, 2, 3, 4};
        float[] model = {2, -2, 3.5f, 0};
        for (TaskVectorMerge m : new TaskVectorMerge[] {new TaskArithmetic(), new Ties(), new Ties(Convention.PAPER)}) {
            assertThat(Inputs.base(base).model(1, model).run(m)).as(m.name()).containsExactly(model);
        }
        assertThat(Inputs.base(base).model(0.5, model).model(0.5, model).global("normalize", 1)
                .run(new TaskArithmetic())).containsExactly(model);
    }

    /**
     * n = 10, density 0.5, gamma 0.1: keep 5 after dropping the 1 largest; δ = [10,-9,8,7,-6,5,4,-3,2,1] keeps
     * -9, 8, 7, -6, 5.
     */
    @Test
    void breadcrumbsDropOutliersAndSmallEntries() {
        float[] zero = new float[10];
        Map<String, Double> p = Map.of("weight", 1.0, "density", 0.5, "gamma", 0.1);
        float[] out = Inputs.base(zero).model(p, 10, -9, 8, 7, -6, 5, 4, -3, 2, 1).run(new Breadcrumbs());
        assertThat(out).containsExactly(0, -9, 8, 7, -6, 5, 0, 0, 0, 0);
        // gamma so small that no outlier goes: mergekit would keep nothing here; Graft keeps the top 5
        Map<String, Double> q = Map.of("weight", 1.0, "density", 0.5, "gamma", 0.01);
        assertThat(Inputs.base(zero).model(q, 10, -9, 8, 7, -6, 5, 4, -3, 2, 1).run(new Breadcrumbs()))
                .containsExactly(10, -9, 8, 7, -6, 0, 0, 0, 0, 0);
        // with election: second model [-1 x10] votes against the positive entries where its weight wins
        float[] minus = new float[10];
        java.util.Arrays.fill(minus, -1);
        float[] ties = Inputs.base(zero).model(p, 10, -9, 8, 7, -6, 5, 4, -3, 2, 1)
                .model(Map.of("weight", 1.0, "density", 1.0), minus).run(new BreadcrumbsTies());
        // votes: [-1, -10, 7, 6, -7, 4, -1, -1, -1, -1] → signs [-, -, +, +, -, +, -, -, -, -];
        // agreeing sums (no normalize): [-1, -9-1, 8, 7, -6-1, 5, -1, -1, -1, -1]
        assertThat(ties).containsExactly(-1, -10, 8, 7, -7, 5, -1, -1, -1, -1);
    }

    /** DARE from its definition: keep iff the model's stream draws below density; rescale as the convention says. */
    @Test
    void dareFollowsItsRandomStreamAndRescales() {
        SplittableRandom r = new SplittableRandom(9);
        int n = 1000;
        float[] base = new float[n];
        float[] model = new float[n];
        for (int i = 0; i < n; i++) {
            base[i] = (float) r.nextGaussian();
            model[i] = base[i] + (float) r.nextGaussian();
        }
        Map<String, Double> p = Map.of("weight", 1.0, "density", 0.3);
        Inputs in = Inputs.base(base).model(p, model).seed(77);
        TensorInputs ti = in.build(new DareLinear(Convention.PAPER));
        SplittableRandom stream = ti.random(0);
        float[] expected = new float[n];
        int kept = 0;
        double l1 = 0;
        double l1Kept = 0;
        for (int i = 0; i < n; i++) {
            float d = model[i] - base[i];
            l1 += Math.abs(d);
            boolean keep = stream.nextDouble() < 0.3;
            expected[i] = keep ? (float) (base[i] + (double) (d * (float) (1 / 0.3))) : base[i];
            if (keep) {
                kept++;
                l1Kept += Math.abs(d);
            }
        }
        assertThat(kept).isBetween(240, 360);
        float[] paper = in.run(new DareLinear(Convention.PAPER));
        for (int i = 0; i < n; i++) {
            assertThat(paper[i]).isCloseTo(expected[i], within(1e-5f));
        }
        // mergekit: kept entries scaled so the L1 norm of the task vector is unchanged
        float[] mk = in.run(new DareLinear());
        double l1Out = 0;
        for (int i = 0; i < n; i++) {
            l1Out += Math.abs(mk[i] - base[i]);
        }
        assertThat(l1Out).isCloseTo(l1, within(1e-3 * l1));
        assertThat(l1Kept).isLessThan(l1);
        assertThat(in.recorder.trimmed().get(0)).isEqualTo(1 - kept / (double) n);
        // same seed, same bytes; another seed, another mask
        assertThat(in.run(new DareLinear())).containsExactly(mk);
        assertThat(Inputs.base(base).model(p, model).seed(78).run(new DareLinear())).isNotEqualTo(mk);
    }

    /**
     * DELLA on one row of 3: magnitudes rank [2, 0, 1] for δ = [3, 1, -2]; with density 0.5 and ε 0.4 the keep
     * probabilities by rank are 0.1, 0.5, 0.9. Draws come in rank order from the model's stream.
     */
    @Test
    void dellaKeepsByMagnitudeRank() {
        Map<String, Double> p = Map.of("weight", 1.0, "density", 0.5, "epsilon", 0.4);
        for (long seed = 1; seed <= 20; seed++) {
            Inputs in = Inputs.base(0, 0, 0).model(p, 3, 1, -2).seed(seed);
            SplittableRandom stream = in.build(new DellaLinear(Convention.PAPER)).random(0);
            float[] delta = {3, 1, -2};
            int[] byRank = {1, 2, 0};
            double[] prob = {0.1, 0.5, 0.9};
            float[] expected = new float[3];
            for (int r = 0; r < 3; r++) {
                int idx = byRank[r];
                expected[idx] = stream.nextDouble() < prob[r] ? (float) (delta[idx] / prob[r]) : 0;
            }
            assertThat(in.run(new DellaLinear(Convention.PAPER))).as("seed %d", seed).containsExactly(expected);
        }
        assertThatThrownBy(() -> Inputs.base(0, 0).model(Map.of("weight", 1.0, "density", 0.9, "epsilon", 0.2), 1, 2)
                .run(new Della())).isInstanceOf(InvalidSettingException.class).hasMessageContaining("epsilon");
    }

    /** A MatMul weight [in=2, out=3] is ranked per PyTorch row, i.e. per ONNX column. */
    @Test
    void dellaRanksPyTorchRowsOfInOutWeights() {
        // columns: [1, 100], [2, 200], [3, 300]: in each, the second entry outranks the first.
        // With density 0.5 and ε 0.49: p = 0.01 for rank 0 and 0.99 for rank 1 within each column.
        Map<String, Double> p = Map.of("weight", 1.0, "density", 0.5, "epsilon", 0.49);
        int keptLarge = 0;
        int keptSmall = 0;
        for (long seed = 0; seed < 50; seed++) {
            float[] out = Inputs.base(new float[6]).model(p, 1, 2, 3, 100, 200, 300).shape(2, 3).inOut().seed(seed)
                    .run(new DellaLinear());
            for (int j = 0; j < 3; j++) {
                keptSmall += out[j] != 0 ? 1 : 0;
                keptLarge += out[3 + j] != 0 ? 1 : 0;
            }
        }
        assertThat(keptLarge).isGreaterThan(140);
        assertThat(keptSmall).isLessThan(10);
    }
}
