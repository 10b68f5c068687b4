package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.RealModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults while {@code graft merge} writes (bge-small with e5-small, 133 MB a model): a full disk, a read-only folder,
 * two processes writing one target, a process killed mid-write. Each time either no target appears or a whole one
 * does (one run's model with that run's data), the error names the file and the cause, and no temporary file stays;
 * a killed run's temporary file is removed by the next run into the folder, which says so. The disk-full and
 * read-only cases mount small file systems and need root; elsewhere they are skipped with a message (a read-only
 * folder is then made by permissions).
 */
class WriteFaultsTest {
    private static final String WORDS = "embeddings.word_embeddings.weight";
    @TempDir
    Path dir;

    private static Object[] merge(Path out, Object... more) {
        List<Object> args = new ArrayList<>(List.of("merge", "--method", "linear", "--model",
                RealModels.bgeSmall() + ":0.3", "--model", RealModels.e5Small() + ":0.7", "-o", out));
        args.addAll(List.of(more));
        return args.toArray();
    }

    @Test
    void aFullDiskLeavesNoFileAndSaysSo() throws Exception {
        Path full = Files.createDirectories(dir.resolve("full"));
        Assumptions.assumeTrue(mount(full, "size=16m"), "needs root to mount a 16 MB file system; skipped");
        try {
            for (String layout : new String[] {"--inline", "--external-data"}) {
                CliRun r = graft(merge(full.resolve("soup.onnx"), layout));
                assertThat(r.exit()).as(layout).isEqualTo(1);
                assertThat(r.err()).as(layout).contains(full.resolve("soup.onnx").toString(), "No space left on device");
                assertThat(list(full)).as(layout).isEmpty();
            }
        } finally {
            umount(full);
        }
    }

    @Test
    void aReadOnlyFolderLeavesTheOldTargetAndSaysSo() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("read-only"));
        Path out = folder.resolve("soup.onnx");
        boolean mounted = false;
        if (isRoot()) {
            Assumptions.assumeTrue(mount(folder, "size=1m"), "needs to mount a file system as root; skipped");
            mounted = true;
            Files.writeString(out, "the previous target");
            run("mount", "-o", "remount,ro", folder.toString());
        } else {
            Files.writeString(out, "the previous target");
            Files.setPosixFilePermissions(folder, java.nio.file.attribute.PosixFilePermissions.fromString("r-xr-xr-x"));
        }
        try {
            CliRun r = graft(merge(out));
            assertThat(r.exit()).isEqualTo(1);
            assertThat(r.err()).contains(out.toString()).containsAnyOf("Read-only file system", "permission denied");
            assertThat(Files.readString(out)).isEqualTo("the previous target");
            assertThat(list(folder)).containsExactly("soup.onnx");
        } finally {
            if (mounted) {
                umount(folder);
            } else {
                Files.setPosixFilePermissions(folder, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
    }

    /**
     * Two processes merge with opposite weights into one target with external data, at the same time: both succeed,
     * and the target's data is the merge its model's metadata records (never one run's model with the other's data).
     */
    @Test
    void twoWritersOfOneTargetLeaveOneWholeResult() throws Exception {
        Path out = dir.resolve("soup.onnx");
        List<Process> writers = new ArrayList<>();
        for (String weights : new String[] {"0.3", "0.7"}) {
            writers.add(graftProcess("merge", "--method", "linear", "--external-data", "--model",
                    RealModels.bgeSmall() + ":" + weights, "--model", RealModels.e5Small() + ":1", "-o", out));
        }
        for (Process p : writers) {
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(new String(p.getInputStream().readAllBytes())).isZero();
        }
        assertThat(list(dir)).containsExactlyInAnyOrder("soup.onnx", "soup.onnx.data");
        float[] bge;
        float[] e5;
        try (OnnxModel a = OnnxModel.open(RealModels.bgeSmall()); OnnxModel b = OnnxModel.open(RealModels.e5Small())) {
            bge = a.weight(WORDS).orElseThrow().toFloats();
            e5 = b.weight(WORDS).orElseThrow().toFloats();
        }
        try (OnnxModel m = OnnxModel.open(out)) {
            String parameters = m.proto().getMetadataPropsList().stream()
                    .filter(e -> e.getKey().equals("graft.parameters")).map(StringStringEntryProto::getValue)
                    .findFirst().orElseThrow();
            double w = parameters.contains("{weight=0.3}") ? 0.3 : 0.7;
            assertThat(parameters).contains("bge-small-en-v1.5.onnx {weight=" + w + "}");
            float[] merged = m.weight(WORDS).orElseThrow().toFloats();
            for (int i = 0; i < merged.length; i += 97) {
                assertThat((double) merged[i]).isCloseTo((w * bge[i] + e5[i]) / (w + 1),
                        org.assertj.core.data.Offset.offset(1e-5));
            }
        }
    }

    /**
     * A merge killed (SIGKILL) while it writes leaves no target, only its temporary file; the next merge into the
     * folder removes that file, says so, and writes the target.
     */
    @Test
    void aKilledMergeLeavesNoTargetAndTheNextRunRemovesItsLeftover() throws Exception {
        Path out = dir.resolve("soup.onnx");
        Process p = graftProcess(merge(out, "--threads", "1"));
        Path leftover = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (leftover == null && System.nanoTime() < deadline && p.isAlive()) {
            try (Stream<Path> files = Files.list(dir)) {
                leftover = files.filter(f -> f.getFileName().toString().startsWith(".soup.onnx.")
                        && f.toFile().length() > 0).findFirst().orElse(null);
            }
            Thread.sleep(5);
        }
        p.destroyForcibly();
        p.waitFor(30, TimeUnit.SECONDS);
        assertThat(leftover).as("the temporary file of the write").isNotNull();
        assertThat(list(dir)).containsExactly(leftover.getFileName().toString());
        CliRun r = graft(merge(out));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.err()).contains("graft: warning: removed " + leftover, "a write that did not finish");
        assertThat(list(dir)).containsExactly("soup.onnx");
    }

    /** {@code graft ARGS} in a process of its own, standard error into standard output. */
    private static Process graftProcess(Object... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        for (Object a : args) {
            command.add(a.toString());
        }
        return new ProcessBuilder(command).redirectErrorStream(true).start();
    }

    private static List<String> list(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    private static boolean isRoot() throws IOException {
        return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
    }

    /** Mounts a tmpfs with {@code options} at {@code at}; false where that is not allowed (not root, a container). */
    private static boolean mount(Path at, String options) throws Exception {
        return isRoot() && run("mount", "-t", "tmpfs", "-o", options, "tmpfs", at.toString());
    }

    private static void umount(Path at) throws Exception {
        run("umount", at.toString());
    }

    private static boolean run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    }
}
