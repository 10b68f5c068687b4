package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoraAdapter;
import ai.onnxruntime.OrtSession;
import dev.graft.testing.RealModels;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One branched bge-small session serves the base model and two adapters, switched per run through ONNX Runtime's
 * LoRA adapter API; each run equals the model with that adapter merged into its weights ({@link LoraApply}).
 */
class LoraRuntimeTest {
    private static final String QUERY = "encoder.layer.0.attention.self.query";
    private static final String UP = "encoder.layer.3.intermediate.dense";
    private static final long[] TOKENS = {101, 7592, 2088, 2003, 1037, 3231, 1012, 102};

    @TempDir
    Path dir;

    private Path adapter(String name, int rank, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        PeftConfig config = PeftConfig.of(rank, 2 * rank, List.of("query", "dense"));
        Map<String, LoraModule> modules = new HashMap<>();
        for (String m : List.of(QUERY, UP)) {
            int out = m.equals(UP) ? 1536 : 384;
            float[] a = new float[rank * 384];
            float[] b = new float[out * rank];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) r.nextGaussian();
            }
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) (0.02 * r.nextGaussian());
            }
            modules.put(m, new LoraModule(m, rank, 384, out, a, b, config.scale(m)));
        }
        Path folder = dir.resolve(name);
        new PeftAdapter(config, modules, Map.of()).write(folder);
        return folder;
    }

    private static float[] run(OrtSession session, OrtSession.RunOptions options) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] shape = {1, TOKENS.length};
        long[] ones = new long[TOKENS.length];
        java.util.Arrays.fill(ones, 1);
        try (OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(TOKENS), shape);
             OnnxTensor mask = OnnxTensor.createTensor(env, LongBuffer.wrap(ones), shape);
             OnnxTensor types = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[TOKENS.length]), shape);
             OrtSession.Result r = session.run(Map.of("input_ids", ids, "attention_mask", mask, "token_type_ids", types),
                     options)) {
            FloatBuffer out = ((OnnxTensor) r.get(0)).getFloatBuffer();
            float[] v = new float[out.remaining()];
            out.get(v);
            return v;
        }
    }

    private static float[] run(Path model) throws OrtException {
        try (OrtSession s = OrtEnvironment.getEnvironment().createSession(model.toString());
             OrtSession.RunOptions o = new OrtSession.RunOptions()) {
            return run(s, o);
        }
    }

    private static double maxDifference(float[] x, float[] y) {
        assertThat(x).hasSameSizeAs(y);
        double d = 0;
        for (int i = 0; i < x.length; i++) {
            d = Math.max(d, Math.abs(x[i] - y[i]));
        }
        return d;
    }

    @Test
    void oneSessionSwitchesAdaptersPerRunAndEachEqualsTheMergedModel() throws OrtException {
        Path bge = RealModels.bgeSmall();
        Path one = adapter("one", 4, 1);
        Path two = adapter("two", 8, 2);
        Path branched = dir.resolve("branched.onnx");
        assertThat(LoraRuntime.graph(bge, List.of(QUERY, UP), Map.of(), branched)).hasSize(2);
        LoraRuntime.export(PeftAdapter.read(one), 1.0, branched, dir.resolve("one.onnx_adapter"));
        LoraRuntime.export(PeftAdapter.read(two), 0.5, branched, dir.resolve("two.onnx_adapter"));
        LoraApply.to(bge).adapter(one).writeTo(dir.resolve("merged-one.onnx"));
        LoraApply.to(bge).adapter(two, 0.5).writeTo(dir.resolve("merged-two.onnx"));
        float[] base = run(bge);
        float[] mergedOne = run(dir.resolve("merged-one.onnx"));
        float[] mergedTwo = run(dir.resolve("merged-two.onnx"));
        assertThat(maxDifference(mergedOne, base)).isGreaterThan(1e-2); // the adapters do change the outputs
        try (OrtSession session = OrtEnvironment.getEnvironment().createSession(branched.toString());
             OrtLoraAdapter a1 = OrtLoraAdapter.create(dir.resolve("one.onnx_adapter").toString());
             OrtLoraAdapter a2 = OrtLoraAdapter.create(dir.resolve("two.onnx_adapter").toString());
             OrtSession.RunOptions none = new OrtSession.RunOptions();
             OrtSession.RunOptions withOne = new OrtSession.RunOptions();
             OrtSession.RunOptions withTwo = new OrtSession.RunOptions()) {
            withOne.addActiveLoraAdapter(a1);
            withTwo.addActiveLoraAdapter(a2);
            assertThat(maxDifference(run(session, none), base)).isLessThan(1e-5);
            assertThat(maxDifference(run(session, withOne), mergedOne)).isLessThan(1e-4);
            assertThat(maxDifference(run(session, withTwo), mergedTwo)).isLessThan(1e-4);
            assertThat(maxDifference(run(session, withOne), mergedOne)).isLessThan(1e-4); // and back
        }
    }

    /**
     * A shared-factor adapter baked into bge-small as branches: one A initializer for the four query layers, the
     * file smaller by the three copies it does not hold, and the outputs of the adapter merged into the weights.
     */
    @Test
    void aSharedFactorIsOneInitializerReadByEveryLayer() throws Exception {
        Path bge = RealModels.bgeSmall();
        SplittableRandom r = new SplittableRandom(9);
        Map<String, LoraModule> modules = new java.util.LinkedHashMap<>();
        float[] common = new float[4 * 384];
        for (int i = 0; i < common.length; i++) {
            common[i] = (float) r.nextGaussian();
        }
        for (int l = 0; l < 4; l++) { // each layer's A spans the same rows, in its own mix (an invertible 4×4 map)
            String m = "encoder.layer." + l + ".attention.self.query";
            float[] a = new float[4 * 384];
            for (int k = 0; k < 4; k++) {
                for (int i = 0; i < 384; i++) {
                    a[k * 384 + i] = common[k * 384 + i] + (l + 1) * 0.5f * common[((k + 1) % 4) * 384 + i];
                }
            }
            float[] b = new float[384 * 4];
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) (0.02 * r.nextGaussian());
            }
            modules.put(m, new LoraModule(m, 4, 384, 384, a, b, 1));
        }
        new PeftAdapter(PeftConfig.of(4, 4, List.of("query")), modules, Map.of()).write(dir.resolve("own"));
        List<LoraShare.Kind> kinds = LoraShare.from(dir.resolve("own")).rank(4).writeTo(dir.resolve("shared"));
        assertThat(java.util.Arrays.stream(kinds.get(0).relativeError()).max().orElseThrow()).isLessThan(1e-8);
        PeftAdapter shared = PeftAdapter.read(dir.resolve("shared"));
        Path sharedGraph = dir.resolve("shared.onnx");
        Path ownGraph = dir.resolve("own.onnx");
        LoraRuntime.baked(bge, shared, 1.0, Map.of(), sharedGraph);
        LoraRuntime.baked(bge, PeftAdapter.read(dir.resolve("own")), 1.0, Map.of(), ownGraph);
        try (dev.graft.onnx.OnnxModel m = dev.graft.onnx.OnnxModel.open(sharedGraph)) {
            assertThat(m.initializers().stream().filter(w -> w.name().endsWith(".lora_A"))).hasSize(1);
            assertThat(m.initializers().stream().filter(w -> w.name().endsWith(".lora_B"))).hasSize(4);
        }
        // the shared graph holds one A of 384×4 float32 instead of four: 3 × 6144 bytes fewer (give or take names)
        long saved = java.nio.file.Files.size(ownGraph) - java.nio.file.Files.size(sharedGraph);
        assertThat(saved).isBetween(3L * 6144 - 2048, 3L * 6144 + 2048);
        LoraApply.to(bge).adapter(dir.resolve("shared")).writeTo(dir.resolve("merged.onnx"));
        assertThat(maxDifference(run(sharedGraph), run(dir.resolve("merged.onnx")))).isLessThan(1e-4);
        assertThat(maxDifference(run(sharedGraph), run(ownGraph))).isLessThan(1e-4); // sharing lost nothing
    }

    @Test
    void modulesTheGraphLacksAndAdaptersWithBiasesAreRefused() {
        assertThatThrownBy(() -> LoraRuntime.graph(RealModels.bgeSmall(), List.of("encoder.layer.0.nothing"), Map.of(),
                dir.resolve("x.onnx"))).hasMessageContaining("encoder.layer.0.nothing");
        PeftConfig c = new PeftConfig(1, 1, false, false, Map.of(), Map.of(), List.of("q"), "lora_only", Map.of());
        PeftAdapter biased = new PeftAdapter(c, Map.of("q", new LoraModule("q", 1, 2, 2, new float[2], new float[2], 1)),
                Map.of("q", new float[2]));
        assertThatThrownBy(() -> LoraRuntime.export(biased, 1, RealModels.bgeSmall(), dir.resolve("x.onnx_adapter")))
                .hasMessageContaining("trained biases");
        assertThatThrownBy(() -> LoraRuntime.export(PeftAdapter.read(adapter("one", 4, 1)), 1, RealModels.bgeSmall(),
                dir.resolve("x.onnx_adapter"))).isInstanceOf(dev.graft.GraftException.class)
                .hasMessageContaining(RealModels.bgeSmall().toString())
                .hasMessageContaining("has no LoRA input slot for the adapter's module '" + QUERY + "'");
        assertThat(dir.resolve("x.onnx_adapter")).doesNotExist();
        assertThat(dir.resolve("x.onnx")).doesNotExist();
    }
}
