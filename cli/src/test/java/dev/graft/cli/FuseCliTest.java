package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.onnx.OnnxModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code graft fuse}: the digits MLPs of 32 and 128 hidden units fused into either width; one hidden layer with two
 * ({@code --method cla}); activation-mass marginals with exact plans; bad options.
 */
class FuseCliTest {
    static final Path HETERO = Path.of("../examples/recipes/heterogeneous");

    @TempDir
    Path dir;

    @Test
    void fusesIntoEitherWidthAndRefusesBadOptions() throws Exception {
        Path wide = dir.resolve("wide.onnx");
        CliRun r = graft("fuse", HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"), "-o", wide);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("OTFusion (exact plans) into mlp_w128.onnx's widths: 1 groups", "model/128",
                "wrote " + wide);
        Path byActivations = dir.resolve("by-activations.onnx");
        CliRun act = graft("fuse", "--cost", "activations", "--calibration", HETERO.resolve("calibration.npy"),
                HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"), "-o", byActivations);
        assertThat(act.exit()).as(act.err()).isZero();
        Path narrow = dir.resolve("narrow.onnx");
        CliRun s = graft("fuse", "--into", "a", "--solver", "sinkhorn", "--reg", "0.02",
                HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"), "-o", narrow);
        assertThat(s.exit()).as(s.err()).isZero();
        try (OnnxModel m = OnnxModel.open(narrow)) {
            assertThat(m.weight("0.weight").orElseThrow().shape()).containsExactly(32, 64);
        }
        Path massed = dir.resolve("massed.onnx");
        CliRun mass = graft("fuse", "--marginals", "activations", "--calibration", HETERO.resolve("calibration.npy"),
                HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"), "-o", massed);
        assertThat(mass.exit()).as(mass.err()).isZero();
        assertThat(mass.out()).contains("OTFusion (exact plans)", "MASS").doesNotContain("1.00-1.00");
        Path bad = dir.resolve("bad.onnx");
        CliRun none = graft("fuse", "--marginals", "activations", "--solver", "none", "--calibration",
                HETERO.resolve("calibration.npy"), HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"),
                "-o", bad);
        assertThat(none.exit()).isEqualTo(1);
        assertThat(none.err()).contains("activation-mass marginals need a transport solver");
        CliRun reg = graft("fuse", "--reg", "0.1", HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_w128.onnx"),
                "-o", bad);
        assertThat(reg.exit()).isEqualTo(1);
        assertThat(reg.err()).contains("--reg goes with --solver sinkhorn");
        CliRun depth = graft("fuse", HETERO.resolve("mlp_w32.onnx"), HETERO.resolve("mlp_d2.onnx"), "-o", bad);
        assertThat(depth.exit()).isEqualTo(1);
        assertThat(depth.err()).contains("mlp_w32.onnx", "is missing");
        CliRun noData = graft("fuse", "--method", "cla", HETERO.resolve("mlp_w64.onnx"), HETERO.resolve("mlp_d2.onnx"),
                "-o", bad);
        assertThat(noData.exit()).isEqualTo(1);
        assertThat(noData.err()).contains("--method cla needs --calibration");
        assertThat(Files.exists(bad)).isFalse();
        Path deeper = dir.resolve("deeper.onnx");
        CliRun cla = graft("fuse", "--method", "cla", HETERO.resolve("mlp_w64.onnx"), HETERO.resolve("mlp_d2.onnx"),
                "--calibration", HETERO.resolve("calibration.npy"), "-o", deeper);
        assertThat(cla.exit()).as(cla.err()).isZero();
        assertThat(cla.out()).contains("CLAFusion in mlp_d2.onnx's depth", "aligned to [0]", "2 groups");
    }

    /**
     * Residual networks of 4 and 2 blocks fused in the shallower depth, then the same with a bad depth, and an MLP with
     * a depth it cannot take.
     */
    @Test
    void residualNetworksFuseInEitherDepth() throws Exception {
        Path shallower = dir.resolve("shallower.onnx");
        CliRun r = graft("fuse", "--method", "cla", "--depth", "shallower", HETERO.resolve("res_d4.onnx"),
                HETERO.resolve("res_d2.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o", shallower);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("CLAFusion in res_d2.onnx's depth", "aligned to [0, 3]", "blocks.1/64",
                "linear CKA");
        try (OnnxModel m = OnnxModel.open(shallower)) {
            assertThat(m.weight("blocks.2.fc1.weight")).isEmpty();
        }
        Path bad = dir.resolve("bad.onnx");
        CliRun depth = graft("fuse", "--method", "cla", "--depth", "middle", HETERO.resolve("res_d4.onnx"),
                HETERO.resolve("res_d2.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o", bad);
        assertThat(depth.exit()).isEqualTo(1);
        assertThat(depth.err()).contains("--depth must be deeper or shallower, got 'middle'");
        Path dropped = dir.resolve("dropped.onnx");
        CliRun drop = graft("fuse", "--method", "cla", "--depth", "shallower", "--unaligned", "drop",
                HETERO.resolve("res_d4.onnx"), HETERO.resolve("res_d2.onnx"), "--calibration",
                HETERO.resolve("calibration.npy"), "-o", dropped);
        assertThat(drop.exit()).as(drop.err()).isZero();
        try (OnnxModel merged = OnnxModel.open(shallower); OnnxModel left = OnnxModel.open(dropped)) {
            assertThat(merged.weight("blocks.0.fc1.weight").orElseThrow().toFloats()).as("blocks 1 and 2 merged in")
                    .isNotEqualTo(left.weight("blocks.0.fc1.weight").orElseThrow().toFloats());
        }
        CliRun byActivations = graft("fuse", "--method", "cla", "--cost", "activations", HETERO.resolve("res_d2.onnx"),
                HETERO.resolve("res_d4.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o",
                dir.resolve("by-activations.onnx"));
        assertThat(byActivations.exit()).as(byActivations.err()).isZero();
        CliRun unaligned = graft("fuse", "--method", "cla", "--unaligned", "merge", HETERO.resolve("res_d4.onnx"),
                HETERO.resolve("res_d2.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o", bad);
        assertThat(unaligned.exit()).isEqualTo(1);
        assertThat(unaligned.err()).contains("--unaligned takes merge or drop, with --depth shallower");
        CliRun layers = graft("fuse", "--method", "cla", "--layers", "0,5", HETERO.resolve("res_d2.onnx"),
                HETERO.resolve("res_d4.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o", bad);
        assertThat(layers.exit()).isEqualTo(1);
        assertThat(layers.err()).contains("the layer alignment [0, 5] must give each of the shallower model's 2 "
                + "layers one of the deeper model's 4");
        CliRun mlp = graft("fuse", "--method", "cla", "--depth", "shallower", HETERO.resolve("mlp_w64.onnx"),
                HETERO.resolve("mlp_d2.onnx"), "--calibration", HETERO.resolve("calibration.npy"), "-o", bad);
        assertThat(mlp.exit()).isEqualTo(1);
        assertThat(mlp.err()).contains("MLPs are fused in the deeper model's depth");
        CliRun mixed = graft("fuse", "--method", "cla", HETERO.resolve("res_d2.onnx"), HETERO.resolve("mlp_d2.onnx"),
                "--calibration", HETERO.resolve("calibration.npy"), "-o", bad);
        assertThat(mixed.exit()).isEqualTo(1);
        assertThat(mixed.err()).contains("mlp_d2.onnx", "neither a plain ReLU MLP nor a stack of numbered layers");
        assertThat(Files.exists(bad)).isFalse();
    }

    /** The recipes {@code ot_fusion.yaml} and {@code cla_fusion.yaml} write what {@code graft fuse} writes. */
    @Test
    void recipesWriteWhatTheCommandWrites() throws Exception {
        for (String[] c : new String[][] {{"ot_fusion.yaml", "mlp_w32.onnx", "mlp_w128.onnx"},
            {"cla_fusion.yaml", "mlp_w64.onnx", "mlp_d2.onnx"}, {"cla_residual.yaml", "res_d2.onnx", "res_d4.onnx"}}) {
            Path viaRecipe = dir.resolve("recipe-" + c[0] + ".onnx");
            CliRun r = graft("merge", HETERO.resolve(c[0]), "-o", viaRecipe);
            assertThat(r.exit()).as(r.err()).isZero();
            Path viaCommand = dir.resolve("command-" + c[0] + ".onnx");
            CliRun f = c[0].startsWith("cla") ? graft("fuse", "--method", "cla", HETERO.resolve(c[1]),
                    HETERO.resolve(c[2]), "--calibration", HETERO.resolve("calibration.npy"), "-o", viaCommand)
                    : graft("fuse", HETERO.resolve(c[1]), HETERO.resolve(c[2]), "-o", viaCommand);
            assertThat(f.exit()).as(f.err()).isZero();
            try (OnnxModel a = OnnxModel.open(viaRecipe); OnnxModel b = OnnxModel.open(viaCommand)) {
                for (dev.graft.onnx.Weight w : b.initializers()) {
                    assertThat(a.weight(w.name()).orElseThrow().toFloats()).as(c[0] + " " + w.name())
                            .containsExactly(w.toFloats());
                }
            }
        }
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "merge_method: cla_fusion\nmodels:\n  - model: " + HETERO.resolve("mlp_w64.onnx")
                .toAbsolutePath() + "\n  - model: " + HETERO.resolve("mlp_d2.onnx").toAbsolutePath() + "\n");
        CliRun r = graft("merge", bad, "-o", dir.resolve("bad.onnx"));
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("bad.yaml", "cla_fusion needs 'calibration'");
        Files.writeString(bad, Files.readString(HETERO.resolve("cla_residual.yaml")).replace("depth: deeper",
                "permute_outputs: 1").replace(": res_d", ": " + HETERO.toAbsolutePath() + "/res_d")
                .replace("calibration.npy", HETERO.toAbsolutePath() + "/calibration.npy"));
        CliRun notBoolean = graft("merge", bad, "-o", dir.resolve("bad.onnx"));
        assertThat(notBoolean.exit()).isEqualTo(1);
        assertThat(notBoolean.err()).contains("bad.yaml", "'permute_outputs' must be true or false");
        assertThat(Files.exists(dir.resolve("bad.onnx"))).isFalse();
    }
}
