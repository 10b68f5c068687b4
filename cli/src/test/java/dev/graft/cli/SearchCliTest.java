package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code graft search} on the digits tasks: its outputs, a re-run of its recipe, resuming, and bad options. */
class SearchCliTest {
    static final Path DIGITS = Path.of("../examples/recipes/digits");

    @TempDir
    Path dir;

    /**
     * A layer-wise search writes the best recipe, the model it merges (what {@code graft merge} of that recipe writes,
     * weight for weight), the log and the plot; the same command with more generations resumes from the log.
     */
    @Test
    void aSearchWritesARecipeThatMergeReruns() throws Exception {
        Path out = dir.resolve("search");
        CliRun r = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--granularity", "layer", "--generations", "4", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("searching 6 numbers (layer-wise coefficients), objective supervised",
                "generation 0: ", "generation 4: ");
        for (String f : new String[] {"recipe.yaml", "model.onnx", "search.json", "convergence.svg"}) {
            assertThat(out.resolve(f)).exists();
        }
        assertThat(out.toFile().list()).containsExactlyInAnyOrder("recipe.yaml", "model.onnx", "search.json", "convergence.svg");
        Path again = dir.resolve("again.onnx");
        CliRun merge = graft("merge", out.resolve("recipe.yaml"), "-o", again);
        assertThat(merge.exit()).as(merge.err()).isZero();
        try (OnnxModel a = OnnxModel.open(out.resolve("model.onnx")); OnnxModel b = OnnxModel.open(again)) {
            for (Weight w : a.initializers()) {
                assertThat(b.weight(w.name()).orElseThrow().toFloats()).as(w.name()).containsExactly(w.toFloats());
            }
        }
        CliRun resumed = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks",
                DIGITS.resolve("tasks.yaml"), "--granularity", "layer", "--generations", "6", "-o", out);
        assertThat(resumed.exit()).as(resumed.err()).isZero();
        assertThat(resumed.out()).contains("generation 5: ", "generation 6: ").doesNotContain("generation 4: ");
        assertThat(Files.readString(out.resolve("search.json"))).contains("\"generation\" : 6");
    }

    /** A genome search of a TIES recipe's weights and densities writes a recipe that {@code graft merge} runs. */
    @Test
    void aGenomeSearchWritesATiesRecipe() throws Exception {
        Path out = dir.resolve("genome");
        CliRun r = graft("search", DIGITS.resolve("ties.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--genome", "weight,density", "--generations", "2", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("searching 6 numbers (genome of ties: [weight, density] in 1 group)");
        assertThat(Files.readString(out.resolve("recipe.yaml"))).contains("\"merge_method\" : \"ties\"", "\"density\"");
        CliRun merge = graft("merge", out.resolve("recipe.yaml"), "-o", dir.resolve("again.onnx"));
        assertThat(merge.exit()).as(merge.err()).isZero();
        CliRun bad = graft("search", DIGITS.resolve("ties.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--genome", "fuzz", "-o", dir.resolve("bad-genome"));
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.err()).contains("has no parameter 'fuzz'");
        assertThat(dir.resolve("bad-genome")).doesNotExist();
    }

    /** {@code graft eval --subsets}: the seven averages of three models, then the summary by size. */
    @Test
    void evalScoresTheAveragesOfSubsets() {
        CliRun r = graft("eval", DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"),
                DIGITS.resolve("task_c.onnx"), "--tasks", DIGITS.resolve("tasks.yaml"), "--subsets");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("| {task_a} |", "| {task_a, task_b} |", "| {task_a, task_b, task_c} |",
                "| models averaged | subsets | mean average | best | worst |", "| 2 | 3 |");
    }

    /**
     * Tinting: the digits tasks given identity heads over the ten logits (a task file written here) get a recipe, its
     * model and each task's refitted head as .npy files that read back as heads of the same shape.
     */
    @Test
    void tintingWritesEachTasksHead() throws Exception {
        float[] identity = new float[100];
        for (int i = 0; i < 10; i++) {
            identity[i * 11] = 1;
        }
        dev.graft.data.NpyArray.writeFloats(dir.resolve("head.npy"), identity, 10, 10);
        StringBuilder yaml = new StringBuilder("tasks:\n");
        String[][] tasks = {{"A", "task_a"}, {"B", "task_b"}, {"C", "task_c"}};
        for (String[] t : tasks) {
            yaml.append("  - name: ").append(t[0]).append("\n    data: ").append(DIGITS.resolve(t[1] + "_x.npy")
                    .toAbsolutePath()).append("\n    labels: ").append(DIGITS.resolve(t[1] + "_y.npy").toAbsolutePath())
                    .append("\n    head: ").append(dir.resolve("head.npy")).append("\n    fine_tuned: ")
                    .append(DIGITS.resolve(t[1] + ".onnx").toAbsolutePath()).append('\n');
        }
        Path taskFile = Files.writeString(dir.resolve("tasks.yaml"), yaml);
        Path out = dir.resolve("tint");
        CliRun r = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", taskFile, "--objective",
                "tinting", "--granularity", "layer", "--generations", "3", "--confident", "0.8", "-o", out);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("tinting 6 coefficients (layer-wise coefficients) and 3 heads");
        assertThat(out.resolve("recipe.yaml")).exists();
        assertThat(out.resolve("model.onnx")).exists();
        for (String[] t : tasks) {
            assertThat(dev.graft.data.NpyArray.read(out.resolve("heads/" + t[0] + ".npy")).shape()).containsExactly(10, 10);
            assertThat(dev.graft.data.NpyArray.read(out.resolve("heads/" + t[0] + "_bias.npy")).shape()).containsExactly(10);
        }
    }

    @Test
    void badOptionsWriteNothing() throws java.io.IOException {
        Path out = dir.resolve("bad");
        CliRun g = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--granularity", "block", "-o", out);
        assertThat(g.exit()).isNotZero();
        assertThat(g.err()).contains("unknown granularity 'block' (known: task, layer, tensor, group)");
        CliRun samples = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks",
                DIGITS.resolve("tasks.yaml"), "--samples", "-3", "-o", out);
        assertThat(samples.err()).contains("--samples must be 0 (all) or positive, got -3");
        CliRun o = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--objective", "loss", "-o", out);
        assertThat(o.err()).contains("unknown objective 'loss'");
        CliRun tint = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--objective", "tinting", "-o", out);
        assertThat(tint.err()).contains("task 'A (0-4)': tinting refits a task's linear head");
        CliRun sure = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--confident", "0.5", "-o", out);
        assertThat(sure.err()).contains("--confident selects the samples of --objective tinting");
        CliRun share = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "--objective", "tinting", "--confident", "0", "-o", out);
        assertThat(share.err()).contains("--confident must be a share in (0, 1], got 0.0");
        Path corrupt = Files.createDirectories(dir.resolve("corrupt"));
        Files.writeString(corrupt.resolve("search.json"), "{not json");
        CliRun c = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", DIGITS.resolve("tasks.yaml"),
                "-o", corrupt);
        assertThat(c.err()).contains("search.json: is not a search checkpoint (Unexpected character", "line 1, column 2",
                "remove it to start anew");
        assertThat(corrupt.toFile().list()).containsExactly("search.json");
        CliRun t = graft("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks", dir.resolve("none.yaml"),
                "-o", out);
        assertThat(t.err()).contains("none.yaml");
        assertThat(out).doesNotExist();
        Path decoders = Path.of("../examples/recipes/decoders").toAbsolutePath();
        Path fp16 = Files.writeString(dir.resolve("fp16.yaml"), "merge_method: task_arithmetic\nbase_model: "
                + decoders.resolve("optimum/base/model.onnx") + "\nmodels:\n  - model: "
                + decoders.resolve("fp16/model.onnx") + "\n");
        CliRun mixed = graft("search", fp16, "--tasks", decoders.resolve("tasks.yaml"), "-o", out);
        assertThat(mixed.exit()).isNotZero();
        assertThat(mixed.err()).contains("fp16/model.onnx", "model.embed_tokens.weight", "float16[98, 32]");
        assertThat(out).doesNotExist(); // the folder the failed search made is gone
    }
}
