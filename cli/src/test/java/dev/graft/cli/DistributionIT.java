package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.GraftVersion;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution as a user installs it (after {@code package}: {@code mvn verify}): {@code graft-cli-dist.zip}
 * unpacked with {@code unzip} in a folder far from the source tree, {@code bin/graft} run through a link on the user's
 * PATH, from another working folder, with nothing on the class path but the one jar: the version, a merge (ONNX
 * Runtime's native library loaded from the jar) and a verify of the result; the launcher's class-data archives.
 */
class DistributionIT {
    private static final Path DIGITS = Path.of("../examples/recipes/digits").toAbsolutePath().normalize();
    @TempDir
    static Path home;
    private static Path graft;

    @BeforeAll
    static void install() throws Exception {
        Path zip = Path.of("target/graft-cli-dist.zip").toAbsolutePath();
        assertThat(zip).exists();
        Path opt = Files.createDirectories(home.resolve("opt"));
        Run unzip = run(opt, List.of("unzip", "-q", zip.toString()));
        assertThat(unzip.exit()).as(unzip.output()).isZero();
        Path bin = opt.resolve("graft-" + GraftVersion.get()).resolve("bin/graft");
        assertThat(Files.isExecutable(bin)).as("bin/graft is executable as unpacked").isTrue();
        graft = Files.createSymbolicLink(Files.createDirectories(home.resolve("bin")).resolve("graft"), bin);
    }

    private record Run(int exit, String output) {
    }

    private static Run run(Path workingFolder, List<String> command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(workingFolder.toFile()).redirectErrorStream(true);
        pb.environment().remove("CLASSPATH");
        pb.environment().remove("GRAFT_CDS");
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().put("XDG_CACHE_HOME", home.resolve("cache").toString()); // class-data archives go here
        pb.environment().put("GRAFT_CACHE_DIR", home.resolve("cache/hashes").toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    private static Run graft(Object... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(graft.toString()));
        for (Object a : args) {
            command.add(a.toString());
        }
        return run(Files.createDirectories(home.resolve("work")), command);
    }

    @Test
    void theLauncherRunsTheJarItCameWith() throws Exception {
        Run r = graft("--version");
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.output().strip()).isEqualTo("graft " + GraftVersion.get());
    }

    @Test
    void aMergeRunsAndVerifies() throws Exception {
        Run merge = graft("merge", "--method", "ties", "--base", DIGITS.resolve("base.onnx"), "--model",
                DIGITS.resolve("task_a.onnx"), "--model", DIGITS.resolve("task_b.onnx"), "--param", "density=0.5",
                "-o", "merged.onnx");
        assertThat(merge.exit()).as(merge.output()).isZero();
        Run verify = graft("verify", "merged.onnx");
        assertThat(verify.exit()).as(verify.output()).isZero();
        assertThat(home.resolve("work/merged.onnx")).exists();
    }

    /**
     * The first run of a command writes its class-data archive; later runs start from it and do the same; an
     * archive that is not one (a truncated file) is ignored, and GRAFT_CDS=off writes none.
     */
    @Test
    void theFirstRunOfACommandWritesAClassDataArchiveThatLaterRunsUse() throws Exception {
        Path cds = home.resolve("cache/graft/cds");
        Path model = DIGITS.resolve("task_a.onnx");
        Run first = graft("inspect", model);
        assertThat(first.exit()).as(first.output()).isZero();
        List<Path> archives;
        try (var files = Files.list(cds)) {
            archives = files.filter(f -> f.getFileName().toString().endsWith("-inspect.jsa")).toList();
        }
        assertThat(archives).hasSize(1);
        assertThat(Files.size(archives.get(0))).isGreaterThan(1 << 20);
        Run again = graft("inspect", model);
        assertThat(again.output()).isEqualTo(first.output());
        Files.write(archives.get(0), new byte[100]); // not an archive
        Run broken = graft("inspect", model);
        assertThat(broken.exit()).isZero();
        assertThat(broken.output()).isEqualTo(first.output());
        ProcessBuilder off = new ProcessBuilder(graft.toString(), "inspect", model.toString())
                .redirectErrorStream(true);
        off.environment().put("GRAFT_CDS", "off");
        off.environment().put("XDG_CACHE_HOME", home.resolve("cache-off").toString());
        off.environment().put("GRAFT_CACHE_DIR", home.resolve("cache-off/hashes").toString());
        off.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = off.start();
        assertThat(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(first.output());
        assertThat(p.waitFor()).isZero();
        assertThat(home.resolve("cache-off/graft/cds")).doesNotExist();
    }

    @Test
    void aBrokenInstallSaysWhatIsMissing() throws Exception {
        Path lone = Files.createDirectories(home.resolve("lone/bin")).resolve("graft");
        Files.copy(graft.toRealPath(), lone);
        Run r = run(home, List.of(lone.toString(), "--version"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.output()).contains("graft-cli-all.jar is missing");
    }
}
