package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code graft moe} and {@code graft merge} of a wemoe recipe on the digits fine-tunes; inspect; bad options. */
class MoeCliTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    @TempDir
    Path dir;

    /**
     * {@code graft moe} with fitted routers prints a line per router group with its routing accuracy; the recipe
     * with the same settings writes the same weights; inspect lists the routed weights and routers.
     */
    @Test
    void moeAndItsRecipeWriteTheSameRoutedModel() throws Exception {
        Path moe = dir.resolve("moe.onnx");
        CliRun r = graft("moe", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx"), DIGITS.resolve("task_c.onnx"), "--calibration",
                DIGITS.resolve("task_a_x.npy"), "--calibration", DIGITS.resolve("task_b_x.npy"), "--calibration",
                DIGITS.resolve("task_c_x.npy"), "-o", moe);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("routed merge (wemoe) of 3 experts, routers fitted", "2 of 2 layer groups routed",
                "logistic posterior", "ROUTING", "wrote " + moe);
        Path recipe = dir.resolve("recipe.onnx");
        CliRun merge = graft("merge", DIGITS.resolve("wemoe.yaml"), "-o", recipe);
        assertThat(merge.exit()).as(merge.err()).isZero();
        assertThat(merge.out()).contains("routed merge (wemoe) of 3 experts");
        try (OnnxModel a = OnnxModel.open(moe); OnnxModel b = OnnxModel.open(recipe)) {
            assertThat(b.initializers()).hasSameSizeAs(a.initializers());
            for (Weight w : a.initializers()) {
                assertThat(b.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
        CliRun inspect = graft("inspect", moe);
        assertThat(inspect.exit()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("routed layers (weight-ensembling experts", "2 weights, [3] experts",
                "2 routers", "routed: 0.weight (3 experts, 0.weight.moe_deltas)");
        CliRun json = graft("moe", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx"), "--router", "constant", "--lambda", "0.5", "--json", "-o",
                dir.resolve("constant.onnx"));
        assertThat(json.exit()).as(json.err()).isZero();
        assertThat(json.out()).contains("\"routers\" : \"constant\"", "\"signConflict\"");
    }

    /** {@code --method mediator}: half the groups routed by one task classifier, sparse experts; inspect sees them. */
    @Test
    void mediatorRoutesTheMostConflictingGroupWithSparseExperts() {
        Path out = dir.resolve("mediator.onnx");
        CliRun r = graft("moe", "--method", "mediator", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx"), DIGITS.resolve("task_c.onnx"), "--calibration",
                DIGITS.resolve("task_a_x.npy"), "--calibration", DIGITS.resolve("task_b_x.npy"), "--calibration",
                DIGITS.resolve("task_c_x.npy"), "--routed-share", "0.5", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("routed merge (mediator) of 3 experts", "1 of 2 layer groups routed",
                "task-level logistic posterior ×1.0, one-hot from 0.9", "static");
        CliRun inspect = graft("inspect", out);
        assertThat(inspect.out()).contains("1 routers: task", "moe_deltas_mask");
        CliRun bad = graft("moe", "--method", "nosuch", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                "--router", "constant", "-o", out);
        assertThat(bad.exit()).isEqualTo(1);
        assertThat(bad.err()).contains("--method must be wemoe or mediator");
    }

    /**
     * Every command's help formats: picocli formats descriptions with String.format, and a bare % makes it warn on
     * the console (not through the command line's writers) and print the raw text.
     */
    @Test
    void everyCommandsHelpFormats() {
        java.io.PrintStream console = System.err;
        java.io.ByteArrayOutputStream warnings = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(warnings, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            for (String command : new picocli.CommandLine(new Main()).getSubcommands().keySet()) {
                assertThat(graft(command, "--help").exit()).as(command).isZero();
            }
        } finally {
            System.setErr(console);
        }
        assertThat(warnings.toString(java.nio.charset.StandardCharsets.UTF_8)).doesNotContain("WARN");
    }

    @Test
    void badOptionsAndRecipesAreRefusedWithoutWriting() throws Exception {
        Path out = dir.resolve("bad.onnx");
        CliRun noData = graft("moe", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx"), "-o", out);
        assertThat(noData.exit()).isEqualTo(1);
        assertThat(noData.err()).contains("--router fitted needs one --calibration per expert", "2 experts, 0");
        CliRun router = graft("moe", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"), "--router",
                "nosuch", "-o", out);
        assertThat(router.exit()).isEqualTo(1);
        assertThat(router.err()).contains("--router must be fitted, prototypes, constant or a folder");
        Path recipe = dir.resolve("wemoe.yaml");
        Files.writeString(recipe, Files.readString(DIGITS.resolve("wemoe.yaml")).replace("base.onnx",
                DIGITS.toAbsolutePath().resolve("base.onnx").toString()).replace("task_", DIGITS.toAbsolutePath()
                + "/task_").replace("    calibration: " + DIGITS.toAbsolutePath() + "/task_c_x.npy\n", ""));
        CliRun missing = graft("merge", recipe, "-o", out);
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err()).contains("models[2] needs 'calibration'", recipe.getFileName().toString());
        Files.writeString(recipe, "merge_method: wemoe\nbase_model: base.onnx\nrouted: mlp\nrouters: fitted\n");
        CliRun unknown = graft("merge", recipe, "-o", out);
        assertThat(unknown.exit()).isEqualTo(1);
        assertThat(unknown.err()).contains("unknown key 'routers'");
        assertThat(out).doesNotExist();
    }

    /**
     * {@code graft moe --method upcycle} on the decoder fixtures: a line per layer with its activation and gates;
     * the recipe with the same settings writes the same weights; the contrib form holds one MoE node per layer;
     * inspect sees the gates; bad option combinations exit 1 naming the options, and nothing is written.
     */
    @Test
    void upcycleAndItsRecipeWriteTheSameMixture() throws Exception {
        Path decoders = Path.of("../examples/recipes/decoders");
        Path moe = dir.resolve("upcycled.onnx");
        Object[] args = {"moe", "--method", "upcycle", "--gates", "fitted", "--samples", "40",
            decoders.resolve("optimum/base/model.onnx"), decoders.resolve("optimum/python/model.onnx"),
            decoders.resolve("optimum/c/model.onnx"), decoders.resolve("optimum/licence/model.onnx"),
            "--calibration", decoders.resolve("python_test.txt"), "--calibration", decoders.resolve("c_test.txt"),
            "--calibration", decoders.resolve("licence_test.txt"), "--tokenizer", decoders.resolve("tokenizer.json"),
            "-o", moe};
        CliRun r = graft(args);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("upcycled mixture of 3 experts, top-2 per token, gates fitted, standard ops: "
                + "2 layers", "layer.0", "swiglu", "GATE COSINE", "wrote " + moe);
        Path recipe = dir.resolve("recipe.onnx");
        CliRun merge = graft("merge", decoders.resolve("upcycle.yaml"), "-o", recipe);
        assertThat(merge.exit()).as(merge.err()).isZero();
        try (OnnxModel a = OnnxModel.open(moe); OnnxModel b = OnnxModel.open(recipe)) {
            assertThat(b.initializers()).hasSameSizeAs(a.initializers());
            for (Weight w : a.initializers()) {
                assertThat(b.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
        assertThat(graft("inspect", moe).out()).contains("upcycled mixture of experts (top-k gates per token): 2 "
                + "layers, [3] experts");
        Path contrib = dir.resolve("contrib.onnx");
        CliRun c = graft("moe", "--method", "upcycle", "--gates", "random", "--form", "contrib",
                "--experts-per-token", "1", decoders.resolve("optimum/base/model.onnx"),
                decoders.resolve("optimum/python/model.onnx"), decoders.resolve("optimum/c/model.onnx"), "-o", contrib);
        assertThat(c.exit()).as(c.err()).isZero();
        try (OnnxModel m = OnnxModel.open(contrib)) {
            assertThat(m.proto().getGraph().getNodeList()).filteredOn(n -> n.getOpType().equals("MoE")).hasSize(2);
        }
        Path bad = dir.resolve("bad.onnx");
        CliRun missing = graft("moe", "--method", "upcycle", decoders.resolve("optimum/base/model.onnx"),
                decoders.resolve("optimum/python/model.onnx"), "-o", bad);
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err()).contains("--gates fitted needs one --calibration per expert");
        CliRun mixed = graft("moe", "--method", "upcycle", "--gates", "random", "--lambda", "0.3",
                decoders.resolve("optimum/base/model.onnx"), decoders.resolve("optimum/python/model.onnx"), "-o", bad);
        assertThat(mixed.exit()).isEqualTo(1);
        assertThat(mixed.err()).contains("the router options go with wemoe and mediator");
        CliRun form = graft("moe", "--form", "contrib", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                "--router", "constant", "-o", bad);
        assertThat(form.exit()).isEqualTo(1);
        assertThat(form.err()).contains("go with --method upcycle");
        assertThat(Files.exists(bad)).isFalse();
    }

    /**
     * {@code graft moe --method lora}: the decoders' adapters (extracted, less the tied head) as experts of one graph
     * with fitted gates, a line per adapted module; inspect sees them; an adapter on the tied head is refused naming
     * it, and nothing is written.
     */
    @Test
    void loraExpertsFromAdapterFolders() {
        Path decoders = Path.of("../examples/recipes/decoders");
        Path base = decoders.resolve("optimum/base/model.onnx");
        java.util.List<Path> adapters = new java.util.ArrayList<>();
        for (String task : java.util.List.of("python", "c")) {
            Path full = dir.resolve(task + "-extracted");
            dev.graft.adapters.LoraExtract.from(base, decoders.resolve("optimum/" + task + "/model.onnx")).rank(4)
                    .writeTo(full);
            dev.graft.adapters.PeftAdapter a = dev.graft.adapters.PeftAdapter.read(full);
            java.util.Map<String, dev.graft.adapters.LoraModule> modules = new java.util.LinkedHashMap<>(a.modules());
            modules.remove("lm_head");
            Path folder = dir.resolve(task + "-adapter");
            new dev.graft.adapters.PeftAdapter(a.config(), modules, a.biases()).write(folder);
            adapters.add(folder);
        }
        Path out = dir.resolve("lora-experts.onnx");
        CliRun r = graft("moe", "--method", "lora", base, adapters.get(0), adapters.get(1), "--calibration",
                decoders.resolve("python_test.txt"), "--calibration", decoders.resolve("c_test.txt"), "--tokenizer",
                decoders.resolve("tokenizer.json"), "--samples", "20", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("mixture of 2 LoRA experts, top-1 per token, gates fitted", "2 gates",
                "model.layers.0.mlp.down_proj", "[4, 4]", "wrote " + out);
        assertThat(graft("inspect", out).out()).contains("mixture of LoRA experts (top-k gates per token)",
                "[2] experts");
        Path bad = dir.resolve("bad.onnx");
        CliRun tied = graft("moe", "--method", "lora", "--gates", "random", base, dir.resolve("python-extracted"),
                "-o", bad);
        assertThat(tied.exit()).isEqualTo(1);
        assertThat(tied.err()).contains("is a head tied to the token embedding (module 'lm_head')");
        CliRun form = graft("moe", "--method", "lora", "--gates", "random", "--form", "contrib", base,
                adapters.get(0), "-o", bad);
        assertThat(form.exit()).isEqualTo(1);
        assertThat(form.err()).contains("--form goes with --method upcycle");
        assertThat(Files.exists(bad)).isFalse();
    }
}
