package dev.graft.examples.jbang;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The repository's {@code jbang-catalog.json}, its alias pointed at this build's version, added as a catalog to a JBang
 * home of its own: JBang resolves {@code graft@graft-dev} offline from the repository this build installed into, to
 * {@code dev.graft.cli.Main} in {@code graft-cli} and its dependencies, and that program prints this version.
 */
class JBangAliasTest {
    private static final String VERSION = System.getProperty("graft.version");
    private static final Path REPOSITORY = Path.of(System.getProperty("jbang.repository"));

    @Test
    void theCatalogsAliasResolvesAndRunsGraftCli(@TempDir Path work) throws Exception {
        Path catalog = Files.createDirectories(work.resolve("catalog")).resolve("jbang-catalog.json");
        String entry = Files.readString(Path.of(System.getProperty("graft.catalog")));
        assertThat(entry).contains("\"graft\"").containsPattern("\"dev\\.graft:graft-cli:[^\"]+\"");
        Files.writeString(catalog, entry.replaceAll("\"dev\\.graft:graft-cli:[^\"]+\"",
                "\"dev.graft:graft-cli:" + VERSION + "\""));
        jbang(work, "--offline", "catalog", "add", "--global", "--name", "graft-dev", catalog.toString());

        List<String> info = new ArrayList<>(List.of("--offline", "info", "tools"));
        for (String repository : System.getProperty("jbang.repositories").split(",")) {
            info.addAll(List.of("--repos", repository));
        }
        info.add("graft@graft-dev");
        JsonObject tools = JsonParser.parseString(jbang(work, info.toArray(String[]::new))).getAsJsonObject();
        assertThat(tools.get("mainClass").getAsString()).isEqualTo("dev.graft.cli.Main");
        List<String> classPath = new ArrayList<>();
        for (JsonElement e : tools.getAsJsonArray("resolvedDependencies")) {
            classPath.add(e.getAsString());
        }
        assertThat(classPath.get(0)).isEqualTo(REPOSITORY.resolve("dev/graft/graft-cli/" + VERSION
                + "/graft-cli-" + VERSION + ".jar").toString());
        assertThat(classPath).allSatisfy(jar -> assertThat(Path.of(jar)).startsWith(REPOSITORY).isRegularFile())
                .anySatisfy(jar -> assertThat(jar).contains("/graft-api-" + VERSION + ".jar"))
                .anySatisfy(jar -> assertThat(jar).contains("/picocli-"));

        String printed = run(work, List.of(java(), "-cp", String.join(File.pathSeparator, classPath),
                tools.get("mainClass").getAsString(), "--version"), null);
        assertThat(printed.strip()).isEqualTo("graft " + VERSION);
    }

    /** Runs JBang (its jar, from this test's class path) in a home of its own; its standard output. */
    private static String jbang(Path work, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(java(), "-cp", System.getProperty("java.class.path"),
                "dev.jbang.Main"));
        command.addAll(List.of(args));
        return run(work, command, work.resolve("jbang-home"));
    }

    private static String run(Path work, List<String> command, Path jbangHome)
            throws IOException, InterruptedException {
        Path errors = Files.createTempFile(work, "stderr", ".txt");
        ProcessBuilder pb = new ProcessBuilder(command).directory(work.toFile())
                .redirectError(errors.toFile());
        if (jbangHome != null) {
            pb.environment().put("JBANG_DIR", jbangHome.toString());
            pb.environment().put("JBANG_REPO", REPOSITORY.toString());
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int status = p.waitFor();
        assertThat(status).as("%s\n%s%s", command, out, Files.readString(errors)).isZero();
        return out;
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
