package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.data.Calibration;
import dev.graft.onnx.OnnxModel;
import dev.graft.regmean.RegMean;
import dev.graft.testing.RealModels;
import dev.graft.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    @TempDir
    Path dir;



    private void assertFailsCleanly(CliRun r, String... messageParts) throws IOException {
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip()).startsWith("graft: error: ").doesNotContain("\n").contains(messageParts);
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("out"));
        }
    }

    /** The demo merges, verifies and evaluates: its table has both inputs and the merge, and a verdict. */
    @Test
    void demoEvaluatesItsMergeOnTheBundledTask() throws IOException {
        CliRun r = graft("demo", "--models", RealModels.bgeSmall().getParent(), "-o", dir.resolve("demo/soup.onnx"));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("| model | docstring retrieval (mrr) | average |").contains("| bge-small-en-v1.5 | ")
                .contains("| e5-small-v2 | ").contains("| soup | ").contains("the merge scores ");
        CliRun again = graft("eval", dir.resolve("demo/soup.onnx"), "--tasks", dir.resolve("demo/tasks.yaml"));
        assertThat(again.exit()).as(again.err()).isZero();
        String soupRow = r.out().lines().filter(l -> l.startsWith("| soup |")).findFirst().orElseThrow();
        assertThat(again.out()).contains(soupRow);
    }

    /** {@code graft merge --method regmean} gives each model its own data; RegMean++ too; bad counts are refused. */
    @Test
    void mergeByRegMeanFromOptions() throws IOException {
        Path digits = Path.of("../examples/recipes/digits");
        List<Object> args = new ArrayList<>(List.of("merge", "--method", "regmean", "-o", dir.resolve("regmean.onnx")));
        List<Calibration> data = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        for (String task : List.of("a", "b", "c")) {
            args.addAll(List.of("--model", digits.resolve("task_" + task + ".onnx"), "--calibration",
                    digits.resolve("task_" + task + "_x.npy")));
            files.add(digits.resolve("task_" + task + ".onnx"));
            data.add(Calibration.npy(digits.resolve("task_" + task + "_x.npy"), "x", 64));
        }
        CliRun r = graft(args.toArray());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("regmean: regressed 2 layer weights");
        RegMean.merge(files).calibration(data).writeTo(dir.resolve("api.onnx"));
        try (OnnxModel cli = OnnxModel.open(dir.resolve("regmean.onnx"));
             OnnxModel api = OnnxModel.open(dir.resolve("api.onnx"))) {
            for (var w : api.weights()) {
                assertThat(cli.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
        args.set(2, "regmean++");
        args.set(4, dir.resolve("plus.onnx"));
        assertThat(graft(args.toArray()).exit()).isZero();
        assertFailsCleanly(graft("merge", "--method", "regmean", "--model", files.get(0), "--model", files.get(1),
                "--calibration", digits.resolve("task_a_x.npy"), "-o", dir.resolve("out.onnx")),
                "one --calibration per --model", "2 models, 1 calibrations");
        assertFailsCleanly(graft("merge", "--method", "regmean", "--model", files.get(0), "--calibration",
                digits.resolve("task_a_x.npy"), "--param", "alpha=1.5", "-o", dir.resolve("out.onnx")),
                "alpha must be in (0, 1]");
    }

    /** {@code graft eval} prints the digits table, writes a chart, speaks JSON, and refuses a bad task file. */
    @Test
    void evalPrintsAModelsByTasksTable() throws IOException {
        Path digits = Path.of("../examples/recipes/digits");
        Path chart = dir.resolve("chart.svg");
        CliRun r = graft("eval", digits.resolve("base.onnx"), digits.resolve("task_a.onnx"), "--tasks",
                digits.resolve("tasks.yaml"), "--chart", chart);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("| model | A (0-4) (accuracy) | B (5-9) (accuracy) | C (mirrored) (accuracy) |"
                + " average | normalized |").contains("| task_a | 0.989 | 0.000 |");
        assertThat(Files.readString(chart)).startsWith("<svg").contains("task_a");
        JsonNode json = new ObjectMapper().readTree(graft("eval", digits.resolve("task_a.onnx"), "--tasks",
                digits.resolve("tasks.yaml"), "--json").out());
        assertThat(json.at("/models/0/normalized/A (0-4)").asDouble()).isEqualTo(1.0);
        Path bad = Files.writeString(dir.resolve("tasks.yaml"), "tasks:\n  - name: t\n    data: x.npy\n"
                + "    metric: mrr\n");
        assertFailsCleanly(graft("eval", digits.resolve("base.onnx"), "--tasks", bad), "x.npy");
    }

    @Test
    void inspectListsEveryWeightWithItsRole() throws IOException {
        CliRun r = graft("inspect", "--json", RealModels.bgeSmall());
        assertThat(r.exit()).isZero();
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertThat(json.get("weights").asInt()).isEqualTo(197);
        assertThat(json.get("parameters").asLong()).isEqualTo(33_212_160L);
        long matmuls = 0;
        for (JsonNode row : json.get("rows")) {
            if (row.get("role").asText().startsWith("MatMul")) {
                matmuls++;
            }
        }
        assertThat(matmuls).isEqualTo(72);
        CliRun text = graft("inspect", RealModels.bgeSmall());
        assertThat(text.out()).contains("LAYER").contains("197 weights").contains("285 more tensors");
    }

    @Test
    void mergeConvertAndVerifyFromTheCommandLine() throws IOException {
        Path a = TinyModels.save(TinyModels.mlp(1), dir.resolve("a.onnx"));
        Path b = TinyModels.save(TinyModels.mlp(2), dir.resolve("b.onnx"));
        Path soup = dir.resolve("soup.onnx");
        CliRun merge = graft("merge", "--method", "linear", "--model", a + ":0.25", "--model", b + ":0.75", "-o", soup,
                "--json");
        assertThat(merge.exit()).as(merge.err()).isZero();
        assertThat(new ObjectMapper().readTree(merge.out()).get("merged").asInt()).isEqualTo(4);
        try (OnnxModel ma = OnnxModel.open(a); OnnxModel mb = OnnxModel.open(b); OnnxModel m = OnnxModel.open(soup)) {
            float[] x = ma.weight("W1").orElseThrow().toFloats();
            float[] y = mb.weight("W1").orElseThrow().toFloats();
            float[] z = m.weight("W1").orElseThrow().toFloats();
            for (int i = 0; i < z.length; i++) {
                assertThat(z[i]).isEqualTo((float) (0.25 * x[i] + 0.75 * y[i]));
            }
        }
        Path ext = dir.resolve("ext.onnx");
        assertThat(graft("convert", soup, ext, "--external-data", "--dtype", "fp16").exit()).isZero();
        assertThat(dir.resolve("ext.onnx.data")).doesNotExist(); // every tensor is under 1 KiB: all stay inline
        CliRun verify = graft("verify", ext, "--against", soup, "--max-rel", "0.01");
        assertThat(verify.exit()).as(verify.err()).isZero();
        assertThat(verify.out()).contains("max rel diff");
        CliRun strict = graft("verify", ext, "--against", soup, "--max-rel", "0");
        assertThat(strict.exit()).isEqualTo(1);
        assertThat(strict.err()).contains("exceeds");
    }

    @Test
    void mergeFromARecipeWritesTheModelAndTheReport() throws IOException {
        TinyModels.save(TinyModels.mlp(1), dir.resolve("base.onnx"));
        TinyModels.save(TinyModels.mlp(2), dir.resolve("a.onnx"));
        TinyModels.save(TinyModels.mlp(3), dir.resolve("b.onnx"));
        Path recipe = Files.writeString(dir.resolve("ties.yaml"), "merge_method: ties\nbase_model: base.onnx\n"
                + "models:\n  - model: a.onnx\n    parameters: {weight: 1, density: 0.5}\n"
                + "  - model: b.onnx\n    parameters: {weight: 1, density: 0.5}\n");
        Path report = dir.resolve("report.json");
        CliRun r = graft("merge", recipe, "-o", dir.resolve("ties.onnx"), "--report", report);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("merged 4 tensors with ties").contains("LAYER").contains("layer 0")
                .contains("CONFLICT");
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertThat(json.get("layers")).hasSize(2);
        assertThat(json.get("tensors").get(0).get("trimmed").get(0).asDouble()).isEqualTo(0.5);
        CliRun slerp = graft("merge", "--method", "slerp", "--base", dir.resolve("base.onnx"), "--model",
                dir.resolve("a.onnx"), "--param", "t=0.5", "-o", dir.resolve("slerp.onnx"));
        assertThat(slerp.exit()).as(slerp.err()).isZero();
        CliRun weightedSlerp = graft("merge", "--method", "slerp", "--base", dir.resolve("base.onnx"), "--model",
                dir.resolve("a.onnx") + ":0.5", "--param", "t=0.5", "-o", dir.resolve("out.onnx"));
        assertThat(weightedSlerp.exit()).isEqualTo(1);
        assertThat(weightedSlerp.err()).contains("no per-model parameter 'weight'");
        CliRun both = graft("merge", recipe, "--model", dir.resolve("a.onnx"), "-o", dir.resolve("out.onnx"));
        assertThat(both.exit()).isEqualTo(1);
        assertThat(both.err()).contains("either a recipe");
    }

    @Test
    void badInputsGiveOneLineErrorsAndNoOutput() throws IOException {
        byte[] model = TinyModels.mlp(1).toByteArray();
        Path cut = Files.write(dir.resolve("cut.onnx"), Arrays.copyOf(model, model.length / 2));
        Path text = Files.writeString(dir.resolve("text.onnx"), "not a model");
        Path good = TinyModels.save(TinyModels.mlp(1), dir.resolve("good.onnx"));
        var wide = TinyModels.mlp(2).toBuilder();
        wide.getGraphBuilder().setInitializer(0, TinyModels.floats("W1", new float[40], 5, 8));
        Path other = TinyModels.save(wide.build(), dir.resolve("other.onnx"));

        assertFailsCleanly(graft("inspect", cut), "cut.onnx", "truncated or corrupt");
        assertFailsCleanly(graft("verify", text), "text.onnx");
        assertFailsCleanly(graft("convert", cut, dir.resolve("out.onnx")), "cut.onnx");
        assertFailsCleanly(graft("merge", "--model", good, "--model", other, "-o", dir.resolve("out.onnx")),
                "other.onnx", "'W1'", "float32[5, 8]", "float32[4, 8]");
        assertFailsCleanly(graft("merge", "--method", "nonsense", "--model", good, "-o", dir.resolve("out.onnx")),
                "unknown merge method 'nonsense'");
        assertFailsCleanly(graft("convert", good, dir.resolve("out.onnx"), "--dtype", "int8"), "int8");
        assertFailsCleanly(graft("verify", dir.resolve("missing.onnx")), "no such file");
        assertThat(graft("inspect").exit()).isEqualTo(2);
    }

    @Test
    void settingsOutOfRangeAreTypedErrorsAndOneLineOnTheCommandLine() throws IOException {
        Path good = TinyModels.save(TinyModels.mlp(1), dir.resolve("good.onnx"));
        assertFailsCleanly(graft("lora", "extract", good, good, "--rank", "0", "-o", dir.resolve("out")),
                "rank must be positive, got 0");
        assertFailsCleanly(graft("pleas", good, good, "--width", "3", "--calibration", dir.resolve("none.npy"), "-o",
                dir.resolve("out.onnx")), "width must be between 1.0 and 2.0, got 3.0");
        assertFailsCleanly(graft("pleas", good, good, "--spread", "widest", "--calibration", dir.resolve("none.npy"),
                "-o", dir.resolve("out.onnx")), "--spread: 'widest' is not one of [uniform, least-similar]");
        assertFailsCleanly(graft("recursive", good, "--blocks", "0", "-o", dir.resolve("out.onnx")),
                "blocks must be positive, got 0");
        assertFailsCleanly(graft("align", good, "--to", good, "--method", "nearest", "-o", dir.resolve("out.onnx")),
                "--method nearest is not known");
        // the same checks, called from Java, are typed: a program can tell a bad setting from a bad file
        assertThatThrownBy(() -> dev.graft.adapters.LoraExtract.from(good, good).rank(0))
                .isInstanceOf(dev.graft.InvalidSettingException.class);
        assertThatThrownBy(() -> dev.graft.pleas.Pleas.merge(good, good).ridge(0))
                .isInstanceOf(dev.graft.InvalidSettingException.class);
        assertThatThrownBy(() -> dev.graft.merge.MergeMethods.create("nonsense"))
                .isInstanceOf(dev.graft.InvalidSettingException.class).hasMessageContaining("available:");
    }

    /** A copy of the tiny MLP with its hidden units shuffled: the same function, units in another order. */
    private Path shuffledMlp(Path mlp, long seed) {
        Path shuffled = dir.resolve("shuffled-" + seed + ".onnx");
        dev.graft.align.PermutationSpec spec = dev.graft.align.Alignment.spec(mlp, false,
                dev.graft.verify.ProbeOptions.defaults());
        try (OnnxModel m = OnnxModel.open(mlp)) {
            dev.graft.align.ModelPermuter.write(m, dev.graft.align.Permutations.random(spec, seed), shuffled,
                    java.util.Map.of());
        }
        return shuffled;
    }

    @Test
    void alignBringsAShuffledModelBackAndWritesThePermutations() throws IOException {
        Path mlp = TinyModels.save(TinyModels.mlp(12), dir.resolve("mlp.onnx"));
        Path shuffled = shuffledMlp(mlp, 4);
        CliRun groups = graft("inspect", "--groups", "--json", mlp);
        assertThat(groups.exit()).isZero();
        JsonNode g = new ObjectMapper().readTree(groups.out());
        assertThat(g.get("groups")).hasSize(1);
        assertThat(g.get("groups").get(0).get("size").asInt()).isEqualTo(TinyModels.HIDDEN);
        CliRun r = graft("align", shuffled, "--to", mlp, "-o", dir.resolve("out.onnx"), "--permutations",
                dir.resolve("perms.json"), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode report = new ObjectMapper().readTree(r.out());
        assertThat(report.get("groups").get(0).get("matched").asDouble())
                .isGreaterThan(report.get("groups").get(0).get("identity").asDouble());
        JsonNode perms = new ObjectMapper().readTree(dir.resolve("perms.json").toFile());
        assertThat(perms.get("groups").get(0).get("permutation")).hasSize(TinyModels.HIDDEN);
        // the aligned copy has the original's weights again, bit for bit
        try (OnnxModel a = OnnxModel.open(mlp); OnnxModel b = OnnxModel.open(dir.resolve("out.onnx"))) {
            for (String w : new String[] {"W1", "b1", "W2", "b2"}) {
                assertThat(b.weight(w).orElseThrow().toFloats()).containsExactly(a.weight(w).orElseThrow().toFloats());
            }
        }
    }

    @Test
    void alignRefusesModelsOfAnotherShape() throws IOException {
        Path mlp = TinyModels.save(TinyModels.mlp(12), dir.resolve("mlp.onnx"));
        ai.onnx.proto.OnnxMl.ModelProto other = TinyModels.mlp(13);
        ai.onnx.proto.OnnxMl.GraphProto.Builder graph = other.getGraph().toBuilder();
        graph.setInitializer(1, TinyModels.floats("b1", new float[TinyModels.HIDDEN], 1, TinyModels.HIDDEN));
        Path wrong = TinyModels.save(other.toBuilder().setGraph(graph).build(), dir.resolve("wrong.onnx"));
        CliRun r = graft("align", mlp, "--to", wrong, "-o", dir.resolve("out.onnx"));
        assertFailsCleanly(r, "wrong.onnx", "'b1'", "shape [1, 8]", "[8]");
    }

    @Test
    void aRecipeCanAlignModelsBeforeMergingThem() throws IOException {
        Path mlp = TinyModels.save(TinyModels.mlp(14), dir.resolve("mlp.onnx"));
        Path shuffled = shuffledMlp(mlp, 5);
        Path recipe = dir.resolve("recipe.yaml");
        Files.writeString(recipe, "merge_method: linear\nmodels:\n  - model: mlp.onnx\n    parameters: {weight: 1}\n"
                + "  - model: " + shuffled.getFileName() + "\n    parameters: {weight: 1}\nalign:\n  method: weight\n"
                + "  seed: 3\n");
        CliRun r = graft("merge", recipe, "-o", dir.resolve("out.onnx"), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode report = new ObjectMapper().readTree(r.out());
        assertThat(report.get("alignments")).hasSize(1);
        assertThat(report.get("parameters").get("align").asText()).isEqualTo("weight matching, seed 3");
        // averaging a model with its aligned shuffle gives the model back
        try (OnnxModel a = OnnxModel.open(mlp); OnnxModel b = OnnxModel.open(dir.resolve("out.onnx"))) {
            assertThat(b.weight("W1").orElseThrow().toFloats()).containsExactly(a.weight("W1").orElseThrow().toFloats());
        }
        Files.delete(dir.resolve("out.onnx"));
        Files.writeString(recipe, "merge_method: linear\nmodels: [mlp.onnx, mlp.onnx]\nalign: {method: activation}\n");
        assertFailsCleanly(graft("merge", recipe, "-o", dir.resolve("out2.onnx")), "needs align.calibration");
        Files.writeString(recipe, "merge_method: linear\nmodels: [mlp.onnx, mlp.onnx]\nalign: {method: magic}\n");
        assertFailsCleanly(graft("merge", recipe, "-o", dir.resolve("out2.onnx")), "align.method 'magic'");
        Files.writeString(recipe, "merge_method: linear\nmodels: [mlp.onnx, mlp.onnx]\nalign: {permute_outputs: 1}\n");
        assertFailsCleanly(graft("merge", recipe, "-o", dir.resolve("out2.onnx")),
                "'align.permute_outputs' must be true or false, got 1");
    }

    @Test
    void alignByActivationsOnNumpyCalibrationData() throws IOException {
        Path folder = Path.of("../examples/recipes/independent").toAbsolutePath();
        CliRun r = graft("align", folder.resolve("cnn_seed2.onnx"), "--to", folder.resolve("cnn_seed1.onnx"), "-o",
                dir.resolve("out.onnx"), "--method", "activation", "--calibration", folder.resolve("calibration.npy"),
                "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(new ObjectMapper().readTree(r.out()).get("method").asText()).startsWith("activation matching");
        Files.delete(dir.resolve("out.onnx"));
        assertFailsCleanly(graft("align", folder.resolve("cnn_seed2.onnx"), "--to", folder.resolve("cnn_seed1.onnx"),
                "-o", dir.resolve("out2.onnx"), "--method", "activation"), "needs --calibration");
    }

    @Test
    void pleasMergesTwoCnnsWithTheirOwnHeadsAndReports() throws IOException {
        Path folder = Path.of("../examples/recipes/independent").toAbsolutePath();
        CliRun r = graft("pleas", folder.resolve("cnn_seed1.onnx"), folder.resolve("cnn_seed2.onnx"), "--width", "1.5",
                "--spread", "least-similar", "--keep-last", "1", "--calibration", folder.resolve("calibration.npy"),
                "-o", dir.resolve("out.onnx"), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertThat(json.get("spread").asText()).isEqualTo("least-similar");
        assertThat(json.get("outputs")).hasSize(2);
        assertThat(json.get("groups")).isNotEmpty();
        assertThat(json.get("layers")).allSatisfy(l -> assertThat(l.get("relativeResidual").asDouble()).isLessThan(1));
        CliRun text = graft("pleas", folder.resolve("mlp_seed1.onnx"), folder.resolve("mlp_seed2.onnx"),
                "--group-width", "model/32=2.0", "--calibration", folder.resolve("calibration.npy"),
                "-o", dir.resolve("out.onnx"));
        assertThat(text.exit()).as(text.err()).isZero();
        assertThat(text.out()).contains("GROUP").contains("RESIDUAL").contains("outputs: logits")
                .contains("units paired: activations (auto)").contains("on the original models' inputs");
        Files.delete(dir.resolve("out.onnx"));
        CliRun merged = graft("pleas", folder.resolve("mlp_seed1.onnx"), folder.resolve("mlp_seed2.onnx"),
                "--fit-inputs", "merged", "--calibration", folder.resolve("calibration.npy"),
                "-o", dir.resolve("out.onnx"), "--json");
        assertThat(merged.exit()).as(merged.err()).isZero();
        assertThat(new ObjectMapper().readTree(merged.out()).get("fitInputs").asText()).isEqualTo("merged");
        Files.delete(dir.resolve("out.onnx"));
        assertFailsCleanly(graft("pleas", folder.resolve("mlp_seed1.onnx"), folder.resolve("mlp_seed2.onnx"),
                "--fit-inputs", "sideways", "--calibration", folder.resolve("calibration.npy"), "-o",
                dir.resolve("out.onnx")), "--fit-inputs", "'sideways' is not one of");
        assertFailsCleanly(graft("pleas", folder.resolve("mlp_seed1.onnx"), folder.resolve("mlp_seed2.onnx"),
                "--spread", "wide", "--calibration", folder.resolve("calibration.npy"), "-o", dir.resolve("out.onnx")),
                "wide");
        assertFailsCleanly(graft("pleas", folder.resolve("mlp_seed1.onnx"), folder.resolve("mlp_seed2.onnx"),
                "--keep-last", "9", "--calibration", folder.resolve("calibration.npy"), "-o", dir.resolve("out.onnx")),
                "the model has 3");
    }

    @Test
    void aPleasRecipeMergesWithOwnHeadsAndBadOnesAreRefused() throws IOException {
        Path recipe = Path.of("../examples/recipes/independent/pleas.yaml").toAbsolutePath();
        CliRun r = graft("merge", recipe, "-o", dir.resolve("out.onnx"), "--report", dir.resolve("report.json"));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("width 1.50").contains("outputs: logits, logits_b");
        JsonNode report = new ObjectMapper().readTree(dir.resolve("report.json").toFile());
        assertThat(report.get("keptLayers").asInt()).isEqualTo(1);
        assertThat(report.get("spread").asText()).isEqualTo("least-similar");
        Files.delete(dir.resolve("out.onnx"));
        Path folder = recipe.getParent();
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "merge_method: pleas\nmodels: [" + folder.resolve("cnn_low.onnx") + ", "
                + folder.resolve("cnn_high.onnx") + "]\npleas: {width: 1.5}\n");
        assertFailsCleanly(graft("merge", bad, "-o", dir.resolve("out.onnx")), "pleas.calibration");
        Files.writeString(bad, "merge_method: pleas\nmodels: [a.onnx]\npleas: {calibration: c.npy}\n");
        assertFailsCleanly(graft("merge", bad, "-o", dir.resolve("out.onnx")), "exactly two models");
        Files.writeString(bad, "merge_method: pleas\nmodels: [a.onnx, b.onnx]\nbase_model: a.onnx\n");
        assertFailsCleanly(graft("merge", bad, "-o", dir.resolve("out.onnx")), "'base_model'", "pleas");
        Files.writeString(bad, "merge_method: pleas\nmodels: [" + folder.resolve("cnn_low.onnx") + ", "
                + folder.resolve("cnn_high.onnx") + "]\npleas: {calibration: " + folder.resolve("calibration.npy")
                + ", spread: wide}\n");
        assertFailsCleanly(graft("merge", bad, "-o", dir.resolve("out.onnx")), "'wide' is not one of");
        Files.writeString(bad, "merge_method: pleas\nmodels: [" + folder.resolve("cnn_low.onnx") + ", "
                + folder.resolve("cnn_high.onnx") + "]\npleas: {calibration: " + folder.resolve("calibration.npy")
                + ", fit_inputs: merged, keep_last: 1}\n");
        CliRun merged = graft("merge", bad, "-o", dir.resolve("out.onnx"), "--report", dir.resolve("report.json"));
        assertThat(merged.exit()).as(merged.err()).isZero();
        assertThat(new ObjectMapper().readTree(dir.resolve("report.json").toFile()).get("fitInputs").asText())
                .isEqualTo("merged");
    }

    @Test
    void loraApplyAndExtractAndAMissingAdapter() throws IOException {
        String query = "encoder.layer.0.attention.self.query";
        float[] a = new float[2 * 384];
        float[] b = new float[384 * 2];
        a[0] = 1;
        b[0] = 1;
        dev.graft.adapters.PeftConfig config = dev.graft.adapters.PeftConfig.of(2, 4, java.util.List.of("query"));
        new dev.graft.adapters.PeftAdapter(config, java.util.Map.of(query,
                new dev.graft.adapters.LoraModule(query, 2, 384, 384, a, b, config.scale(query))), java.util.Map.of())
                .write(dir.resolve("adapter"));
        CliRun r = graft("lora", "apply", RealModels.bgeSmall(), "--adapter", dir.resolve("adapter") + ":0.5", "-o",
                dir.resolve("out.onnx"), "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertThat(json.get("modules").get(0).get("weight").asText()).isEqualTo("onnx::MatMul_1525");
        assertThat(json.get("modules").get(0).get("adapterWeight").asDouble()).isEqualTo(0.5);
        try (OnnxModel base = OnnxModel.open(RealModels.bgeSmall()); OnnxModel out = OnnxModel.open(dir.resolve("out.onnx"))) {
            // ΔW[0][0] = 0.5 · (4/2) · 1 · 1, at [in 0, out 0] of the [in, out] MatMul weight
            assertThat(out.weight("onnx::MatMul_1525").orElseThrow().toFloats()[0]
                    - base.weight("onnx::MatMul_1525").orElseThrow().toFloats()[0]).isCloseTo(1f,
                    org.assertj.core.api.Assertions.within(1e-6f));
        }
        CliRun x = graft("lora", "extract", RealModels.bgeSmall(), dir.resolve("out.onnx"), "--rank", "1", "-o",
                dir.resolve("extracted"));
        assertThat(x.exit()).as(x.err()).isZero();
        assertThat(x.out()).contains(query).contains("100.00%");
        CliRun c = graft("lora", "compose", "--adapter", dir.resolve("adapter") + ":0.5", "--adapter",
                dir.resolve("extracted").toString(), "-o", dir.resolve("composed"), "--json");
        assertThat(c.exit()).as(c.err()).isZero();
        assertThat(new ObjectMapper().readTree(c.out()).get(0).get("rank").asInt()).isEqualTo(3);
        CliRun t = graft("lora", "compose", "--adapter", dir.resolve("adapter").toString(), "--adapter",
                dir.resolve("extracted").toString(), "--method", "ties", "--param", "density=0.5", "--rank", "2", "-o",
                dir.resolve("ties"));
        assertThat(t.exit()).as(t.err()).isZero();
        CliRun e = graft("lora", "export", RealModels.bgeSmall(), "--adapter", dir.resolve("composed").toString(), "-o",
                dir.resolve("branched.onnx"));
        assertThat(e.exit()).as(e.err()).isZero();
        assertThat(dir.resolve("composed.onnx_adapter")).isNotEmptyFile();
        Files.delete(dir.resolve("branched.onnx"));
        Files.delete(dir.resolve("out.onnx"));
        Files.copy(RealModels.bgeSmall(), dir.resolve("bge.onnx"));
        Path recipe = dir.resolve("lora.yaml");
        Files.writeString(recipe, "merge_method: lora_apply\nbase_model: bge.onnx\nadapters:\n"
                + "  - {adapter: adapter, weight: 0.5}\n  - extracted\n");
        CliRun viaRecipe = graft("merge", recipe, "-o", dir.resolve("out.onnx"), "--json");
        assertThat(viaRecipe.exit()).as(viaRecipe.err()).isZero();
        assertThat(new ObjectMapper().readTree(viaRecipe.out()).get("modules")).hasSize(2);
        Files.delete(dir.resolve("out.onnx"));
        Files.writeString(recipe, "merge_method: lora_compose\nadapters: [adapter, extracted]\nmethod: ties\n"
                + "parameters: {density: 0.5}\nrank: 2\n");
        CliRun composed = graft("merge", recipe, "-o", dir.resolve("composed-by-recipe"));
        assertThat(composed.exit()).as(composed.err()).isZero();
        assertThat(dir.resolve("composed-by-recipe").resolve("adapter_config.json")).exists();
        CliRun shared = graft("share", dir.resolve("extracted"), "--rank", "1", "-o", dir.resolve("shared"), "--graph",
                RealModels.bgeSmall() + "=" + dir.resolve("baked.onnx"));
        assertThat(shared.exit()).as(shared.err()).isZero();
        assertThat(dir.resolve("baked.onnx")).isNotEmptyFile();
        Files.delete(dir.resolve("baked.onnx"));
        CliRun rec = graft("recursive", RealModels.bgeSmall(), "--blocks", "6", "--rank", "0", "-o", dir.resolve("rec.onnx"));
        assertThat(rec.exit()).as(rec.err()).isZero();
        assertThat(rec.out()).contains("12 layers into 6 consecutive blocks, fitted on weights").contains("SIMILARITY");
        Files.delete(dir.resolve("rec.onnx"));
        assertThat(shared.out()).contains("KIND");
        dev.graft.adapters.PeftConfig biased = new dev.graft.adapters.PeftConfig(2, 4, false, false,
                java.util.Map.of(), java.util.Map.of(), java.util.List.of("query"), "lora_only", java.util.Map.of());
        new dev.graft.adapters.PeftAdapter(biased, java.util.Map.of(query, new dev.graft.adapters.LoraModule(query, 2,
                384, 384, a, b, 2)), java.util.Map.of(query, new float[384])).write(dir.resolve("biased"));
        // refused before anything is written: no graph without its adapter files
        assertFailsCleanly(graft("lora", "export", RealModels.bgeSmall(), "--adapter", dir.resolve("biased").toString(),
                "-o", dir.resolve("out-branched.onnx")), "trained biases", "--no-biases");
        Files.writeString(recipe, "merge_method: lora_apply\nbase_model: bge.onnx\nadapters: [adapter]\nextra: 1\n");
        assertFailsCleanly(graft("merge", recipe, "-o", dir.resolve("out.onnx")), "unknown key 'extra'");
        assertFailsCleanly(graft("lora", "apply", RealModels.bgeSmall(), "--adapter", dir.resolve("missing").toString(),
                "-o", dir.resolve("out.onnx")), "adapter_config.json");
    }

    /**
     * A data-aware recursive conversion at two ranks writes a model per rank, a report and a plot; the shared-factor
     * adapter of a fine-tune comes from two models; bad combinations are one-line errors.
     */
    @Test
    void recursiveSweepsRanksAndShareTakesAFineTune() throws IOException {
        Path bge = RealModels.bgeSmall();
        Path tokenizer = bge.resolveSibling("bge-small-en-v1.5-tokenizer.json");
        CliRun sweep = graft("recursive", bge, "--blocks", "4", "--rank", "4,8", "--calibration",
                Path.of("../examples/recipes/text/heldout.txt"), "--tokenizer", tokenizer, "--samples", "16",
                "--eval-text", Path.of("../examples/recipes/text/sentences.txt"), "-o", dir.resolve("sweep"));
        assertThat(sweep.exit()).as(sweep.err()).isZero();
        assertThat(sweep.out()).contains("12 layers into 4 consecutive blocks, fitted on activations");
        assertThat(dir.resolve("sweep").resolve("rank-4.onnx")).isNotEmptyFile();
        assertThat(dir.resolve("sweep").resolve("rank-8.onnx")).isNotEmptyFile();
        var report = new ObjectMapper().readTree(dir.resolve("sweep").resolve("report.json").toFile());
        assertThat(report).hasSize(2);
        assertThat(report.get(1).get("report").get("rank").asInt()).isEqualTo(8);
        assertThat(report.get(1).get("outputSimilarity").asDouble())
                .isGreaterThan(report.get(0).get("outputSimilarity").asDouble()).isLessThan(1);
        assertThat(Files.readString(dir.resolve("sweep").resolve("quality.svg"))).startsWith("<svg")
                .contains("<polyline");
        CliRun share = graft("share", "--base", bge, "--fine-tuned", RealModels.e5Small(), "--rank", "4", "--groups", "2",
                "-o", dir.resolve("shared"));
        assertThat(share.exit()).as(share.err()).isZero();
        assertThat(share.out()).contains("encoder.layer.*.attention.self.query");
        assertThat(dir.resolve("shared").resolve("adapter_model.safetensors")).isNotEmptyFile();
        assertFailsCleanly(graft("share", dir.resolve("shared"), "--base", bge, "--fine-tuned", RealModels.e5Small(),
                "-o", dir.resolve("out")), "either an ADAPTER folder or both --base and --fine-tuned");
        assertFailsCleanly(graft("recursive", bge, "--blocks", "4", "--shared-from", "3", "-o", dir.resolve("out.onnx")),
                "3 layers per block");
        assertFailsCleanly(graft("recursive", bge, "--blocks", "4", "--eval-text", "x.txt", "-o",
                dir.resolve("out.onnx")), "--eval-text needs --tokenizer");
    }
}
