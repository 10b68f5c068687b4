package dev.graft.merge;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.GraphProto;
import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergeMethod;
import dev.graft.plan.MergeReport;
import dev.graft.plan.ModelScan;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.ResolvedParameters;
import dev.graft.plan.SlicedMerge;
import dev.graft.plan.TensorInputs;
import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import dev.graft.testing.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tensors larger than the memory budget are merged in slices ({@code SlicedMerge}), read from the files pass by
 * pass: the written model equals the one merged whole, bit for bit, diagnostics included; a tied head stored
 * transposed is written in runs from slices of the table.
 */
class SlicedMergeTest {
    /** Under this budget every tensor of more than about 2,000 entries is merged in slices. */
    private static final long SMALL_BUDGET = 64 << 10;

    @TempDir
    Path dir;

    /** A model whose one weight {@code w} [3, 2048] is added to its input. */
    private Path model(String name, float[] w) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("add")
                .addInput(TinyModels.floatInput("x", "N", 2048))
                .addOutput(TinyModels.floatInput("y", "N", 2048))
                .addInitializer(TinyModels.floats("w", w, 3, 2048))
                .addNode(TinyModels.node("Add", "add", new String[] {"x", "w"}, "y"));
        return TinyModels.save(TinyModels.model(g), dir.resolve(name + ".onnx"));
    }

    /**
     * Task vectors whose magnitudes tie at the trim's cut across slices (±1 everywhere; a repeating pattern of
     * 0.5, −0.5, 1, 0) and a Gaussian one: TIES (both conventions, with and without the paper's rescale),
     * task arithmetic and linear, merged in slices of 2048 entries, equal the whole merge.
     */
    @Test
    void slicedMergesEqualWholeMergesWithTiesAtTheCut() {
        int n = 3 * 2048;
        float[] base = new float[n];
        float[] signs = new float[n];
        float[] pattern = new float[n];
        float[] gaussian = TinyModels.random(new Random(3), n);
        float[] cycle = {0.5f, -0.5f, 1f, 0f};
        for (int i = 0; i < n; i++) {
            signs[i] = i % 3 == 0 ? -1f : 1f;
            pattern[i] = cycle[i % 4];
        }
        Path b = model("base", base);
        Path[] models = {model("signs", signs), model("pattern", pattern), model("gaussian", gaussian)};
        record Merge(MergeMethod method, Map<String, Double> parameters) {
            MergeBuilder on(MergeBuilder b, Recording recording) {
                parameters.forEach(b::parameter);
                return b.method(recording.wrap(method));
            }
        }
        List<Merge> merges = List.of(new Merge(new Ties(), Map.of("density", 0.5)),
                new Merge(new Ties(Convention.PAPER), Map.of("density", 0.3, "rescale", 1.0)),
                new Merge(new Ties(), Map.of("density", 0.0)),
                new Merge(new TaskArithmetic(), Map.of("lambda", 0.7)),
                new Merge(new Linear(), Map.of()));
        for (int k = 0; k < merges.size(); k++) {
            Recording whole = new Recording();
            Recording sliced = new Recording();
            MergeReport w = merges.get(k).on(builder(b, models), whole).writeTo(dir.resolve("whole" + k + ".onnx"));
            MergeReport s = merges.get(k).on(builder(b, models), sliced).memoryBudget(SMALL_BUDGET)
                    .writeTo(dir.resolve("sliced" + k + ".onnx"));
            assertThat(sliced.whole).as("merge %d", k).doesNotContain("w");
            assertThat(whole.whole).as("merge %d", k).contains("w");
            assertThat(values(dir.resolve("sliced" + k + ".onnx"), "w")).as("merge %d", k)
                    .containsExactly(values(dir.resolve("whole" + k + ".onnx"), "w"));
            assertThat(s.tensors()).as("merge %d", k).isEqualTo(w.tensors());
        }
        // the first merge by the formula: model "signs" keeps exactly its first ⌊0.5·n⌋ entries of magnitude 1
        builder(b, new Path[] {models[0]}).method(new Ties()).parameter("density", 0.5).memoryBudget(SMALL_BUDGET)
                .writeTo(dir.resolve("signs-only.onnx"));
        float[] onlySigns = values(dir.resolve("signs-only.onnx"), "w");
        for (int i = 0; i < n; i++) {
            assertThat(onlySigns[i]).as("entry %d", i).isEqualTo(i < n / 2 ? signs[i] : 0f);
        }
    }

    /**
     * A decoder with a tied head stored transposed ({@code lm_head} a copy of {@code embed_tokens}ᵀ): merged in
     * slices, once for both, the table and its copy equal the whole merge's and stay each other's transpose.
     */
    @Test
    void aTiedTransposedHeadIsWrittenFromSlicesOfItsTable() {
        Path[] models = {Decoders.model("optimum/licence/model.onnx"), Decoders.model("optimum/c/model.onnx"),
                Decoders.model("optimum/python/model.onnx")};
        Path base = Decoders.model("optimum/base/model.onnx");
        Path whole = dir.resolve("whole.onnx");
        Path sliced = dir.resolve("sliced.onnx");
        Recording recording = new Recording();
        builder(base, models).method(new Ties()).parameter("density", 0.5).writeTo(whole);
        builder(base, models).method(recording.wrap(new Ties())).parameter("density", 0.5).memoryBudget(SMALL_BUDGET)
                .writeTo(sliced);
        assertThat(recording.whole).doesNotContain("model.embed_tokens.weight").isNotEmpty();
        // merged once, in two slices of whole rows (98 × 32 entries; slices of 2048), for the table and its copy
        assertThat(recording.slicesMerged).containsEntry("model.embed_tokens.weight", 2);
        try (OnnxModel w = OnnxModel.open(whole); OnnxModel s = OnnxModel.open(sliced)) {
            for (Weight x : w.initializers()) {
                if (x.type() == ElementType.FLOAT) {
                    assertThat(s.weight(x.name()).orElseThrow().toFloats()).as(x.name()).containsExactly(x.toFloats());
                }
            }
        }
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(sliced, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.kvLogits(whole, ElementType.FLOAT)))).isZero();
    }

    /**
     * int4 {@code MatMulNBits} weights merged in slices of whole columns (quantized as each slice comes, the codes
     * written at their place, scales gathered) equal the whole merge byte for byte, codes and scales, for TIES and a
     * linear merge, with ONNX Runtime's symmetric layout and with HQQ's float zero points (unchanged blocks kept as
     * stored, read a slice at a time); the head (98 columns) takes two slices.
     */
    @ParameterizedTest
    @ValueSource(strings = {"int4", "int4_hqq"})
    void quantizedWeightsMergedInSlicesEqualTheWholeMerge(String fixture) {
        Path base = Decoders.model(fixture + "/base/model.onnx");
        Path[] models = {Decoders.model(fixture + "/licence/model.onnx"),
                Decoders.model(fixture + "/licence/model.onnx")};
        for (MergeMethod method : List.of(new Ties(), new Linear())) {
            String name = fixture + "-" + method.name();
            Recording recording = new Recording();
            Map<String, Double> parameters = method instanceof Ties ? Map.of("density", 0.5) : Map.of();
            MergeBuilder wholeMerge = builder(base, models).method(method);
            MergeBuilder slicedMerge = builder(base, models).method(recording.wrap(method)).memoryBudget(16 << 10);
            parameters.forEach(wholeMerge::parameter);
            parameters.forEach(slicedMerge::parameter);
            MergeReport w = wholeMerge.writeTo(dir.resolve(name + "-whole.onnx"));
            MergeReport s = slicedMerge.writeTo(dir.resolve(name + "-sliced.onnx"));
            // the head and the MLPs exceed the budget; the small key and value projections are merged whole
            assertThat(recording.whole).as(name).noneMatch(t -> t.contains("lm_head") || t.contains("mlp"))
                    .contains("model.layers.0.self_attn.k_proj.MatMul.weight_Q4");
            try (OnnxModel whole = OnnxModel.open(dir.resolve(name + "-whole.onnx"));
                 OnnxModel sliced = OnnxModel.open(dir.resolve(name + "-sliced.onnx"))) {
                for (Weight x : whole.initializers()) {
                    java.nio.ByteBuffer expected = x.bytes();
                    assertThat(sliced.weight(x.name()).orElseThrow().bytes()).as(name + " " + x.name())
                            .isEqualTo(expected);
                }
            }
            assertThat(s.quantization()).as(name).hasSameSizeAs(w.quantization());
            for (int i = 0; i < w.quantization().size(); i++) {
                assertThat(s.quantization().get(i).relativeRms()).as(name)
                        .isCloseTo(w.quantization().get(i).relativeRms(), org.assertj.core.api.Assertions.within(1e-9));
            }
            assertThat(s.tensors()).as(name).hasSameSizeAs(w.tensors());
        }
    }

    private static MergeBuilder builder(Path base, Path[] models) {
        MergeBuilder b = Graft.merge().base(base);
        for (Path m : models) {
            b.model(m, 1);
        }
        return b;
    }

    private static float[] values(Path model, String tensor) {
        try (OnnxModel m = OnnxModel.open(model)) {
            return m.weight(tensor).orElseThrow().toFloats();
        }
    }

    /** Wraps the method a merge description names, recording the tensors it merges whole. */
    private static final class Recording {
        final Set<String> whole = ConcurrentHashMap.newKeySet();
        final Map<String, Integer> slicesMerged = new ConcurrentHashMap<>();

        MergeMethod wrap(MergeMethod inner) {
            return new MergeMethod() {
                @Override
                public String name() {
                    return inner.name();
                }

                @Override
                public boolean needsBase() {
                    return inner.needsBase();
                }

                @Override
                public List<ParameterSpec> parameters() {
                    return inner.parameters();
                }

                @Override
                public void merge(TensorInputs in, float[] out) {
                    whole.add(in.tensor());
                    inner.merge(in, out);
                }

                @Override
                public boolean recordsTaskVectors() {
                    return inner.recordsTaskVectors();
                }

                @Override
                public SlicedMerge sliced(TensorInputs in) {
                    SlicedMerge merge = inner.sliced(in);
                    return merge == null ? null : new SlicedMerge() {
                        @Override
                        public boolean needsPass(int done) {
                            return merge.needsPass(done);
                        }

                        @Override
                        public void observe(int pass, float[] base, float[][] models, int first, int length) {
                            merge.observe(pass, base, models, first, length);
                        }

                        @Override
                        public void merge(float[] base, float[][] models, int first, int length, float[] out) {
                            slicesMerged.merge(in.tensor(), 1, Integer::sum);
                            merge.merge(base, models, first, length, out);
                        }

                        @Override
                        public void finish() {
                            merge.finish();
                        }
                    };
                }

                @Override
                public Object prepare(ModelScan scan, ResolvedParameters modelWide) {
                    return inner.prepare(scan, modelWide);
                }

                @Override
                public boolean needsPreparation(ResolvedParameters modelWide) {
                    return inner.needsPreparation(modelWide);
                }
            };
        }
    }
}
