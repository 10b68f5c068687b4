package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.tensor.ElementType;
import dev.graft.testing.Decoders;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The commands on decoders as Optimum exports them (the fixtures of {@code examples/recipes/decoders}), each result
 * run through its KV cache.
 */
class DecoderCliTest {
    @TempDir
    Path dir;



    private static Path model(String layout) {
        return Decoders.model(layout + "/model.onnx");
    }

    @Test
    void verifyRunsEveryLayoutWithACacheOfTheSizeAsked() {
        for (String layout : new String[] {"optimum/base", "fp16", "external", "no_cache", "int4/base", "int4_hqq/base", "olive",
                "genai/base", "genai_int4/base"}) {
            CliRun r = graft("verify", model(layout));
            assertThat(r.exit()).as(layout + ": " + r.err()).isZero();
        }
        CliRun legacy = graft("verify", Decoders.DIR.resolve("legacy/decoder_model_merged.onnx"));
        assertThat(legacy.exit()).as(legacy.err()).isZero();
        assertThat(legacy.out()).contains("use_cache_branch=[1]");
        CliRun r = graft("verify", model("optimum/base"));
        assertThat(r.out()).contains("attention_mask=[2, 11]", "past_key_values.0.key=[2, 1, 3, 16]");
        CliRun empty = graft("verify", model("fp16"), "--dim", "past_sequence_length=0");
        assertThat(empty.out()).contains("attention_mask=[2, 8]", "past_key_values.1.value=[2, 1, 0, 16]",
                "output logits FLOAT16 [2, 8, 98]");
    }

    @Test
    void inspectShowsNormsTheTiedHeadAndPermutationGroups() {
        CliRun r = graft("inspect", model("optimum/base"));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("model\\.norm\\.weight +float32 +\\[32\\] +norm scale")
                .containsPattern("tied: onnx::MatMul_\\d+ holds model.embed_tokens.weight, transposed");
        CliRun groups = graft("inspect", "--groups", model("optimum/base"));
        assertThat(groups.exit()).as(groups.err()).isZero();
        assertThat(groups.out()).contains("model.layers.0.mlp/64");
    }

    /**
     * On a model with Olive's LoRA input slots: {@code inspect} lists them (not as parameters), {@code verify} runs it
     * on the slots' defaults, and {@code lora export} of an adapter for 15 modules keeps the 4 slots, branches the
     * other 11 (the tied head's branch updating the embedding's lookup too), and writes an adapter file that ONNX
     * Runtime runs as {@code lora apply} merges it; {@code lora apply} takes that file as an adapter.
     */
    @Test
    void oliveLoraSlotsAreListedVerifiedAndExportedTo() throws Exception {
        Path olive = model("olive");
        CliRun inspect = graft("inspect", olive);
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("LoRA input slots on 4 modules, fed an adapter per run "
                        + "(model.layers.0.self_attn.q_proj.lora_A.weight, model.layers.0.self_attn.q_proj.lora_B.weight, "
                        + "...): model.layers.0.self_attn.q_proj, model.layers.0.self_attn.v_proj")
                .containsPattern("onnx::MatMul_\\d+ +float32 +\\[32,32\\] +MatMul B \\[in,out\\] +0 +"
                        + "model.layers.0.self_attn.q_proj ");
        CliRun plain = graft("inspect", model("optimum/base"));
        String params = "floating-point parameters";
        assertThat(inspect.out().lines().filter(l -> l.contains(params)).findFirst().orElseThrow().split(",")[1])
                .isEqualTo(plain.out().lines().filter(l -> l.contains(params)).findFirst().orElseThrow().split(",")[1]);
        CliRun verify = graft("verify", olive);
        assertThat(verify.exit()).as(verify.err()).isZero();

        Path adapter = dir.resolve("licence");
        assertThat(graft("lora", "extract", model("optimum/base"), model("optimum/licence"), "--rank", "8", "-o",
                adapter).exit()).isZero();
        Path graph = dir.resolve("runtime/model.onnx");
        CliRun export = graft("lora", "export", olive, "--adapter", adapter, "-o", graph);
        assertThat(export.exit()).as(export.err()).isZero();
        assertThat(export.out()).contains("with LoRA branches on 11 modules (4 had LoRA input slots already)");
        Path applied = dir.resolve("applied.onnx");
        assertThat(graft("lora", "apply", olive, "--adapter", adapter, "-o", applied).exit()).isZero();
        try (ai.onnxruntime.OrtLoraAdapter a = ai.onnxruntime.OrtLoraAdapter.create(
                     dir.resolve("runtime/licence.onnx_adapter").toString());
             ai.onnxruntime.OrtSession.RunOptions with = new ai.onnxruntime.OrtSession.RunOptions();
             ai.onnxruntime.OrtSession.RunOptions none = new ai.onnxruntime.OrtSession.RunOptions()) {
            with.addActiveLoraAdapter(a);
            assertThat(Decoders.maxAbsDiff(Decoders.logitsWithEmptyCache(graph, with),
                    Decoders.logitsWithEmptyCache(applied, none))).isLessThan(1e-4);
            // the adapter file is an adapter too: applied to the plain export, it gives the same model
            Path fromFile = dir.resolve("from-file.onnx");
            CliRun apply = graft("lora", "apply", model("optimum/base"), "--adapter",
                    dir.resolve("runtime/licence.onnx_adapter"), "-o", fromFile);
            assertThat(apply.exit()).as(apply.err()).isZero();
            assertThat(Decoders.maxAbsDiff(Decoders.logitsWithEmptyCache(fromFile, none),
                    Decoders.logitsWithEmptyCache(applied, none))).isLessThan(1e-4);
        }
        Path junk = dir.resolve("junk.onnx_adapter");
        Files.writeString(junk, "not an adapter");
        CliRun bad = graft("lora", "apply", model("optimum/base"), "--adapter", junk, "-o", dir.resolve("bad.onnx"));
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains(junk.toString(), "no 'TORT' identifier").doesNotContain("Exception");
        assertThat(dir.resolve("bad.onnx")).doesNotExist();
    }

    /** A permuted model computes the same function: aligning fine-tunes of one base keeps the model's logits. */
    @Test
    void alignOnTextCalibrationKeepsWhatTheModelComputes() {
        Path out = dir.resolve("aligned.onnx");
        CliRun r = graft("align", model("optimum/licence"), "--to", model("optimum/c"), "--method", "activation",
                "--calibration", Decoders.DIR.resolve("c_test.txt"), "--tokenizer", Decoders.DIR.resolve("tokenizer.json"),
                "--samples", "32", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        float[] before = Decoders.onTokens(Decoders.kvLogits(model("optimum/licence"), ElementType.FLOAT));
        float[] after = Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT));
        assertThat(Decoders.maxAbsDiff(before, after)).isLessThan(1e-4);
    }

    @Test
    void mergesPairAnonymousWeightsByModuleAndQuantizeInt4Again() {
        Path out = dir.resolve("merged.onnx");
        CliRun r = graft("merge", "--method", "ties", "--base", model("optimum/base"), "--model", model("untied"),
                "--model", model("optimum/licence"), "--param", "density=0.5", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("paired by module and role, names differing: 15 weights",
                "(lm_head, MatMul B [in,out])");
        float[] logits = Decoders.kvLogits(out, ElementType.FLOAT);
        for (float v : logits) {
            assertThat(Float.isFinite(v)).isTrue();
        }
        Path int4 = dir.resolve("int4.onnx");
        CliRun quantized = graft("merge", "--method", "ties", "--base", model("int4/base"), "--model",
                model("int4/licence"), "--param", "density=0.5", "-o", int4);
        assertThat(quantized.exit()).as(quantized.err()).isZero();
        assertThat(quantized.out()).containsPattern("quantized again: 15 MatMulNBits weights, relative RMS error 0\\.\\d+");
        assertThat(graft("verify", int4).exit()).isZero();
        Path mixed = dir.resolve("mixed.onnx");
        CliRun refused = graft("merge", "--method", "linear", "--model", model("int4/base"), "--model",
                model("optimum/licence"), "-o", mixed);
        assertThat(refused.exit()).isEqualTo(1);
        assertThat(refused.err()).startsWith("graft: error: ").contains("optimum/licence/model.onnx",
                "MatMul.weight_Q4");
        assertThat(Files.exists(mixed)).isFalse();
    }

    /** Perplexity per domain: each fine-tune is best on the text it was tuned on. */
    @Test
    void evalScoresDecodersByPerplexityPerDomain() {
        CliRun r = graft("eval", model("optimum/base"), model("optimum/licence"), model("optimum/c"), "--tasks",
                Decoders.DIR.resolve("tasks.yaml"));
        assertThat(r.exit()).as(r.err()).isZero();
        double[] base = row(r.out(), "optimum/base/model.onnx");
        double[] licence = row(r.out(), "optimum/licence/model.onnx");
        double[] c = row(r.out(), "optimum/c/model.onnx");
        assertThat(licence[0]).isLessThan(base[0]).isLessThan(c[0]);
        assertThat(c[1]).isLessThan(base[1]).isLessThan(licence[1]);
    }

    /** The scores of the table row whose model ends with {@code suffix}. */
    private static double[] row(String table, String suffix) {
        String line = table.lines().filter(l -> l.startsWith("| ") && l.split(" \\| ")[0].endsWith(suffix))
                .findFirst().orElseThrow();
        String[] cells = line.split("\\|");
        return new double[] {Double.parseDouble(cells[2].strip()), Double.parseDouble(cells[3].strip()),
                Double.parseDouble(cells[4].strip())};
    }

    /** A checkpoint imported onto the base's export runs as the fine-tune it was saved from. */
    @Test
    void importWritesACheckpointIntoAnExport() {
        Path out = dir.resolve("licence.onnx");
        CliRun r = graft("import", Decoders.DIR.resolve("checkpoints/licence"), "--template", model("optimum/base"),
                "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("21 initializers from", "(15 transposed from PyTorch's [out,in])")
                .containsPattern("onnx::MatMul_\\d+ = model.layers.0.self_attn.q_proj.weight \\(transposed\\)");
        assertThat(Decoders.maxAbsDiff(Decoders.onTokens(Decoders.kvLogits(out, ElementType.FLOAT)),
                Decoders.onTokens(Decoders.torchLogits("licence")))).isLessThan(1e-4);
        CliRun wrong = graft("import", Decoders.DIR.resolve("checkpoints/licence"), "--template",
                Path.of("../examples/recipes/independent/mlp_seed1.onnx"), "-o", dir.resolve("wrong.onnx"));
        assertThat(wrong.exit()).isEqualTo(1);
        assertThat(wrong.err()).startsWith("graft: error: ").contains("has no parameter that fits");
    }

    /** With --template, merge inputs may be checkpoints: the merge equals the merge of their exports. */
    @Test
    void mergeTakesCheckpointsOntoATemplate() throws Exception {
        Path fromCheckpoints = dir.resolve("checkpoints.onnx");
        CliRun r = graft("merge", "--method", "ties", "--template", model("optimum/base"), "--base", model("optimum/base"),
                "--model", Decoders.DIR.resolve("checkpoints/licence"), "--model",
                Decoders.DIR.resolve("checkpoints/c_sharded"), "--param", "density=0.5", "-o", fromCheckpoints);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("checkpoints/licence written into");
        Path fromExports = dir.resolve("exports.onnx");
        assertThat(graft("merge", "--method", "ties", "--base", model("optimum/base"), "--model",
                model("optimum/licence"), "--model", model("optimum/c"), "--param", "density=0.5", "-o", fromExports)
                .exit()).isZero();
        try (dev.graft.onnx.OnnxModel a = dev.graft.onnx.OnnxModel.open(fromCheckpoints);
             dev.graft.onnx.OnnxModel b = dev.graft.onnx.OnnxModel.open(fromExports)) {
            for (dev.graft.onnx.Weight w : a.initializers()) {
                if (w.type().isFloatingPoint()) {
                    assertThat(w.toFloats()).as(w.name()).containsExactly(b.weight(w.name()).orElseThrow().toFloats());
                }
            }
        }
        try (var left = Files.list(dir)) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".graft-import"));
        }
    }
}
