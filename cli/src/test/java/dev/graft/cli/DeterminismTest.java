package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.testing.Decoders;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The determinism matrix: each command that computes (alignment, PLeaS, OTFusion, CLAFusion, LoRA extraction, SVD
 * composition and export, shared factors, recursive models, RegMean, routed merges: WEMoE, Mediator, upcycled
 * mixtures; the coefficient search) writes the same bytes, file for file, with one worker thread, two and four
 * ({@code graft.threads}, or the command's {@code --threads}), from the same inputs, options and seed.
 */
class DeterminismTest {
    private static final Path HETERO = Path.of("../examples/recipes/heterogeneous").toAbsolutePath();
    private static final Path INDEPENDENT = Path.of("../examples/recipes/independent").toAbsolutePath();
    private static final Path DIGITS = Path.of("../examples/recipes/digits").toAbsolutePath();

    @TempDir
    Path dir;

    @Test
    void everyCommandWritesTheSameBytesWhateverTheThreadCount() throws IOException {
        Path base = Decoders.model("optimum/base/model.onnx");
        Path licence = Decoders.model("optimum/licence/model.onnx");
        Path c = Decoders.model("optimum/c/model.onnx");
        Path adapterA = dir.resolve("adapter-licence");
        Path adapterB = dir.resolve("adapter-c");
        assertThat(graft("lora", "extract", base, licence, "--rank", "8", "-o", adapterA).exit()).isZero();
        assertThat(graft("lora", "extract", base, c, "--rank", "8", "-o", adapterB).exit()).isZero();
        Map<String, List<Object>> commands = new TreeMap<>();
        commands.put("align", List.of("align", INDEPENDENT.resolve("mlp_seed2.onnx"), "--to",
                INDEPENDENT.resolve("mlp_seed1.onnx"), "-o", "OUT.onnx"));
        commands.put("pleas", List.of("pleas", INDEPENDENT.resolve("cnn_seed1.onnx"),
                INDEPENDENT.resolve("cnn_seed2.onnx"), "--width", "1.5", "--calibration",
                INDEPENDENT.resolve("calibration.npy"), "-o", "OUT.onnx"));
        commands.put("fuse", List.of("fuse", "--solver", "sinkhorn", HETERO.resolve("mlp_w32.onnx"),
                HETERO.resolve("mlp_w128.onnx"), "-o", "OUT.onnx"));
        commands.put("fuse-cla", List.of("fuse", "--method", "cla", "--depth", "shallower",
                HETERO.resolve("res_d4.onnx"), HETERO.resolve("res_d2.onnx"), "--calibration",
                HETERO.resolve("calibration.npy"), "-o", "OUT.onnx"));
        commands.put("lora-extract", List.of("lora", "extract", base, licence, "--rank", "4", "-o", "OUT"));
        commands.put("lora-compose-svd", List.of("lora", "compose", "--adapter", adapterA, "--adapter", adapterB,
                "--method", "svd", "--rank", "4", "-o", "OUT"));
        commands.put("share", List.of("share", "--base", base, "--fine-tuned", licence, "--rank", "4", "-o", "OUT"));
        commands.put("recursive", List.of("recursive", base, "--blocks", "1", "--rank", "4", "-o", "OUT.onnx"));
        commands.put("regmean", List.of("merge", "--method", "regmean", "--model", DIGITS.resolve("task_a.onnx"),
                "--calibration", DIGITS.resolve("task_a_x.npy"), "--model", DIGITS.resolve("task_b.onnx"),
                "--calibration", DIGITS.resolve("task_b_x.npy"), "-o", "OUT.onnx"));
        Path decoders = Path.of("../examples/recipes/decoders").toAbsolutePath();
        commands.put("moe", List.of("moe", DIGITS.resolve("base.onnx"), DIGITS.resolve("task_a.onnx"),
                DIGITS.resolve("task_b.onnx"), "--calibration", DIGITS.resolve("task_a_x.npy"), "--calibration",
                DIGITS.resolve("task_b_x.npy"), "-o", "OUT.onnx"));
        commands.put("moe-mediator", List.of("moe", "--method", "mediator", DIGITS.resolve("base.onnx"),
                DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"), "--calibration",
                DIGITS.resolve("task_a_x.npy"), "--calibration", DIGITS.resolve("task_b_x.npy"), "-o", "OUT.onnx"));
        commands.put("moe-upcycle", List.of("moe", "--method", "upcycle", "--gates", "fitted", "--samples", "40",
                base, decoders.resolve("optimum/python/model.onnx"), c, "--calibration",
                decoders.resolve("python_test.txt"), "--calibration", decoders.resolve("c_test.txt"), "--tokenizer",
                decoders.resolve("tokenizer.json"), "-o", "OUT.onnx"));
        commands.put("lora-export", List.of("lora", "export", base, "--adapter", adapterA, "--adapter", adapterB,
                "-o", "OUT/switchable.onnx"));
        commands.put("search", List.of("search", DIGITS.resolve("task_arithmetic.yaml"), "--tasks",
                DIGITS.resolve("tasks.yaml"), "--granularity", "layer", "--generations", "2", "--seed", "3",
                "--threads", "THREADS", "-o", "OUT"));
        for (Map.Entry<String, List<Object>> command : commands.entrySet()) {
            Map<String, byte[]> one = run(command.getKey() + "-1", command.getValue(), "1");
            assertThat(one).as(command.getKey()).isNotEmpty();
            for (String threads : new String[] {"2", "4"}) {
                Map<String, byte[]> other = run(command.getKey() + "-" + threads, command.getValue(), threads);
                assertThat(other.keySet()).as(command.getKey()).isEqualTo(one.keySet());
                one.forEach((file, bytes) -> assertThat(other.get(file))
                        .as(command.getKey() + " with " + threads + " threads: " + file).isEqualTo(bytes));
            }
        }
    }

    /** Runs {@code args} (OUT replaced by a fresh path) with {@code graft.threads} set; the files it wrote. */
    private Map<String, byte[]> run(String name, List<Object> args, String threads) throws IOException {
        Path out = dir.resolve(name);
        List<Object> actual = new ArrayList<>();
        for (Object a : args) {
            actual.add(a instanceof String s && s.startsWith("OUT") ? out.resolveSibling(name + s.substring(3))
                    : a.equals("THREADS") ? threads : a);
        }
        String before = System.getProperty("graft.threads");
        System.setProperty("graft.threads", threads);
        CliRun r;
        try {
            r = graft(actual.toArray());
        } finally {
            if (before == null) {
                System.clearProperty("graft.threads");
            } else {
                System.setProperty("graft.threads", before);
            }
        }
        assertThat(r.exit()).as(name + ": " + r.err()).isZero();
        Map<String, byte[]> files = new TreeMap<>();
        Path written = Files.exists(out) ? out : out.resolveSibling(name + ".onnx");
        try (Stream<Path> walk = Files.walk(written)) {
            for (Path p : walk.filter(Files::isRegularFile).toList()) {
                files.put(written.relativize(p).toString(), Files.readAllBytes(p));
            }
        }
        return files;
    }
}
