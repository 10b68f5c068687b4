package dev.graft.cli;

import static dev.graft.cli.CliRun.graft;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.common.hash.Hashing;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code graft merge --report report.html --tasks …}: one self-contained page (nothing loaded from elsewhere) with the
 * recipe, every input's SHA-256 (checked against the file), the per-task scores printed by the command, and the
 * charts, whose cells carry the JSON report's numbers; headless Chromium lays the page out and every chart has a size
 * and all its marks (skipped, with a message, where Chromium is not installed: {@code .ci/run} installs it). The same
 * for {@code graft eval --report eval.html}.
 */
class ReportPageTest {
    private static final Path DIGITS = Path.of("../examples/recipes/digits").toAbsolutePath().normalize();
    @TempDir
    Path dir;

    @Test
    void aMergeReportIsOnePageWithItsInputsScoresAndCharts() throws Exception {
        Path page = dir.resolve("report.html");
        CliRun r = graft("merge", DIGITS.resolve("ties.yaml"), "-o", dir.resolve("merged.onnx"), "--report", page,
                "--tasks", DIGITS.resolve("tasks.yaml"));
        assertThat(r.exit()).as(r.err()).isZero();
        String html = Files.readString(page);
        assertThat(html).startsWith("<!DOCTYPE html>").doesNotContain("src=", "href=", "<link", "@import", "url(");
        for (String input : List.of("base.onnx", "task_a.onnx", "task_b.onnx", "task_c.onnx")) {
            String sha = Hashing.sha256().hashBytes(Files.readAllBytes(DIGITS.resolve(input))).toString();
            assertThat(html).as(input).contains(sha);
        }
        assertThat(html).contains("<th>model0</th><td>task_a.onnx {density=0.5, weight=1.0}</td>");
        // the printed table's merged row, cell for cell, is the page's
        Matcher row = Pattern.compile("\\| merged \\| ([0-9.]+) \\| ([0-9.]+) \\| ([0-9.]+) \\|").matcher(r.out());
        assertThat(row.find()).as(r.out()).isTrue();
        assertThat(html).contains("<tr><td>merged</td><td class=\"num\">" + row.group(1) + "</td><td class=\"num\">"
                + row.group(2) + "</td><td class=\"num\">" + row.group(3) + "</td>");

        Path json = dir.resolve("report.json");
        assertThat(graft("merge", DIGITS.resolve("ties.yaml"), "-o", dir.resolve("again.onnx"), "--report", json)
                .exit()).isZero();
        JsonNode layers = new ObjectMapper().readTree(json.toFile()).get("layers");
        String signs = html.substring(html.indexOf("<figure class=\"chart\" id=\"signs\">"));
        signs = signs.substring(0, signs.indexOf("</figure>"));
        for (JsonNode layer : layers) {
            JsonNode outvoted = layer.get("outvoted");
            assertThat(outvoted).hasSize(3);
            for (int m = 0; m < 3; m++) {
                assertThat(signs).contains(String.format(Locale.ROOT, "%s, task_%c: %.3f</title>",
                        layer.get("layer").asText(), 'a' + m, outvoted.get(m).asDouble()));
            }
        }

        Map<String, int[]> charts = rendered(page);
        assertThat(charts.keySet()).containsExactly("norms", "cosines", "signs", "trimmed");
        int rows = layers.size();
        assertThat(charts.get("cosines")[2]).isEqualTo(rows * 3); // three pairs
        assertThat(charts.get("signs")[2]).isEqualTo(rows * 3); // three models
        charts.forEach((id, c) -> {
            assertThat(c[0]).as(id + " width").isGreaterThan(100);
            assertThat(c[1]).as(id + " height").isGreaterThan(50);
            assertThat(c[2]).as(id + " marks").isPositive();
        });
    }

    /** {@code graft eval --report eval.html}: the printed table's rows are the page's, and the bar chart renders. */
    @Test
    void anEvaluationIsAPageWithItsTableAndChart() throws Exception {
        Path page = dir.resolve("eval.html");
        CliRun r = graft("eval", DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"), "--tasks",
                DIGITS.resolve("tasks.yaml"), "--report", page);
        assertThat(r.exit()).as(r.err()).isZero();
        String html = Files.readString(page);
        assertThat(html).doesNotContain("src=", "href=", "<link");
        for (String model : List.of("task_a", "task_b")) {
            Matcher row = Pattern.compile("\\| " + model + " \\| ([0-9.]+) \\| ([0-9.]+) \\| ([0-9.]+) \\|")
                    .matcher(r.out());
            assertThat(row.find()).as(r.out()).isTrue();
            assertThat(html).contains("<tr><td>" + model + "</td><td class=\"num\">" + row.group(1)
                    + "</td><td class=\"num\">" + row.group(2) + "</td><td class=\"num\">" + row.group(3) + "</td>");
        }
        Map<String, int[]> charts = rendered(page);
        assertThat(charts.keySet()).containsExactly("scores");
        assertThat(charts.get("scores")[2]).isEqualTo(2 * 4); // two models, three tasks and the average
    }

    /**
     * The merges that are not by method have pages of their own reports: the inputs' SHA-256 (checked against the
     * files) as the written model records them, each chart cell carrying the number of the report printed by
     * {@code --json} in the same run, and every chart laid out by Chromium with one mark per cell or bar.
     */
    @Test
    void pleasRoutedUpcycledAndRegMeanMergesHavePagesOfTheirReports() throws Exception {
        Path independent = DIGITS.resolveSibling("independent");
        JsonNode pleas = page("pleas", List.of(independent.resolve("pleas.yaml")),
                List.of(independent.resolve("cnn_low.onnx"), independent.resolve("cnn_high.onnx")));
        assertCells("pleas", pleas, "similarity", "groups", "group", List.of("meanSimilarity"), List.of("correlation"));
        JsonNode moe = page("moe", List.of(DIGITS.resolve("wemoe.yaml")), List.of(DIGITS.resolve("base.onnx"),
                DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx"), DIGITS.resolve("task_c.onnx")));
        assertCells("moe", moe, "groups", "groups", "name", List.of("signConflict", "cosine", "routingAccuracy"),
                List.of("sign conflict", "cosine", "routing acc."));
        Path decoders = DIGITS.resolveSibling("decoders");
        JsonNode upcycle = page("upcycle", List.of(decoders.resolve("upcycle.yaml")), List.of("base", "python", "c",
                "licence").stream().map(m -> decoders.resolve("optimum").resolve(m).resolve("model.onnx")).toList());
        assertCells("upcycle", upcycle, "gates", "layers", "name", List.of("gateCosine"), List.of("gate cosine"));
        List<Object> regmean = new ArrayList<>(List.of("--method", "regmean"));
        for (String task : List.of("a", "b")) {
            regmean.addAll(List.of("--model", DIGITS.resolve("task_" + task + ".onnx"), "--calibration",
                    DIGITS.resolve("task_" + task + "_x.npy")));
        }
        JsonNode r = page("regmean", regmean, List.of(DIGITS.resolve("task_a.onnx"), DIGITS.resolve("task_b.onnx")));
        for (JsonNode weight : r.get("regressed")) {
            assertThat(Files.readString(dir.resolve("regmean.html"))).contains("<td>" + weight.asText() + "</td>");
        }

        Map<String, int[]> pleasCharts = rendered(dir.resolve("pleas.html"));
        assertThat(pleasCharts.keySet()).containsExactly("widths", "similarity", "residuals");
        int groups = pleas.get("groups").size();
        assertThat(pleasCharts.get("widths")[2]).isEqualTo(2 * groups); // one model's and the merged width
        assertThat(pleasCharts.get("similarity")[2]).isEqualTo(groups);
        assertThat(rendered(dir.resolve("moe.html")).get("groups")[2]).isEqualTo(3 * moe.get("groups").size());
        assertThat(rendered(dir.resolve("upcycle.html")).get("gates")[2]).isEqualTo(upcycle.get("layers").size());
        assertThat(rendered(dir.resolve("regmean.html"))).isEmpty();
    }

    /**
     * Runs {@code graft merge ARGS -o NAME.onnx --report NAME.html --json}: checks the page is self-contained and
     * names each of {@code inputs} with its SHA-256; returns the printed report.
     */
    private JsonNode page(String name, List<Object> args, List<Path> inputs) throws Exception {
        List<Object> all = new ArrayList<>(List.of("merge"));
        all.addAll(args);
        all.addAll(List.of("-o", dir.resolve(name + ".onnx"), "--report", dir.resolve(name + ".html"), "--json"));
        CliRun r = graft(all.toArray());
        assertThat(r.exit()).as(r.err()).isZero();
        String html = Files.readString(dir.resolve(name + ".html"));
        assertThat(html).startsWith("<!DOCTYPE html>").doesNotContain("src=", "href=", "<link", "@import", "url(");
        for (Path input : inputs) {
            String sha = Hashing.sha256().hashBytes(Files.readAllBytes(input)).toString();
            assertThat(html).as(name + ": " + input).contains("<td>" + input.getFileName() + "</td><td>" + sha);
        }
        return new ObjectMapper().readTree(r.out());
    }

    /** Each row of {@code report}'s {@code list} has its {@code fields} in the cells of {@code page}'s {@code chart}. */
    private void assertCells(String page, JsonNode report, String chart, String list, String label,
                             List<String> fields, List<String> columns) throws Exception {
        String html = Files.readString(dir.resolve(page + ".html"));
        String figure = html.substring(html.indexOf("<figure class=\"chart\" id=\"" + chart + "\">"));
        figure = figure.substring(0, figure.indexOf("</figure>"));
        assertThat(report.get(list).size()).isPositive();
        for (JsonNode row : report.get(list)) {
            for (int f = 0; f < fields.size(); f++) {
                JsonNode v = row.get(fields.get(f));
                String shown = v.isNumber() && Double.isFinite(v.asDouble())
                        ? String.format(Locale.ROOT, "%.3f", v.asDouble()) : "–";
                assertThat(figure).as(chart + " " + row.get(label).asText() + " " + fields.get(f))
                        .contains(row.get(label).asText() + ", " + columns.get(f) + ": " + shown + "</title>");
            }
        }
    }

    @Test
    void recipesWithoutAPageBadTaskFilesAndUnwritablePagesAreRefusedBeforeRunning() throws Exception {
        Path out = dir.resolve("fused.onnx");
        Path fusion = DIGITS.resolveSibling("heterogeneous").resolve("ot_fusion.yaml");
        Path page = dir.resolve("pages/r.html");
        CliRun r = graft("merge", fusion, "-o", out, "--report", page);
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("--report " + page, "FusionRecipe", "--report FILE.json");
        assertThat(out).doesNotExist();
        assertThat(page.getParent()).as("a refused command makes no folder").doesNotExist();
        Path moe = dir.resolve("moe.onnx");
        CliRun tasks = graft("merge", DIGITS.resolve("wemoe.yaml"), "-o", moe, "--tasks", DIGITS.resolve("tasks.yaml"));
        assertThat(tasks.exit()).isEqualTo(1);
        assertThat(tasks.err()).contains("--tasks: a task evaluation is made for merges by method", "graft eval");
        assertThat(moe).doesNotExist();
        for (Path recipe : List.of(DIGITS.resolve("wemoe.yaml"), DIGITS.resolve("ties.yaml"))) {
            Path unwritable = Path.of("/proc/graft-no-such-folder/report.html"); // /proc takes no new folder, even from root
            CliRun refused = graft("merge", recipe, "-o", moe, "--report", unwritable);
            assertThat(refused.exit()).isEqualTo(1);
            assertThat(refused.err()).contains(unwritable.toString(), "cannot be written");
            assertThat(moe).as("an unwritable report stops the merge before it runs").doesNotExist();
        }
        Path blocked = dir.resolve("afile");
        Files.writeString(blocked, "");
        CliRun inTheWay = graft("merge", DIGITS.resolve("ties.yaml"), "-o", moe, "--report", blocked.resolve("r.html"));
        assertThat(inTheWay.exit()).isEqualTo(1);
        assertThat(inTheWay.err()).contains(blocked.resolve("r.html").toString(), "cannot be written");
        assertThat(moe).doesNotExist();
        Path report = dir.resolve("new/folder/r.html");
        CliRun missingInput = graft("merge", "--method", "ties", "--base", DIGITS.resolve("base.onnx"), "--model",
                dir.resolve("no-such-model.onnx"), "-o", moe, "--report", report);
        assertThat(missingInput.exit()).isEqualTo(1);
        assertThat(missingInput.err()).contains("no-such-model.onnx");
        assertThat(dir.resolve("new")).as("a command that fails after the report check leaves no folder").doesNotExist();
        Path merged = dir.resolve("ties.onnx");
        CliRun badTasks = graft("merge", DIGITS.resolve("ties.yaml"), "-o", merged, "--tasks", dir.resolve("no.yaml"));
        assertThat(badTasks.exit()).isEqualTo(1);
        assertThat(badTasks.err()).contains("no.yaml");
        assertThat(merged).as("a bad task file stops the command before the merge").doesNotExist();
    }

    /** Each chart's laid-out width, height and mark count, as the page's check wrote them after Chromium's layout. */
    private static Map<String, int[]> rendered(Path page) throws Exception {
        String chromium = System.getenv().getOrDefault("GRAFT_CHROMIUM", "chromium");
        Process p;
        try {
            p = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                    page.toUri().toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (java.io.IOException e) {
            Assumptions.abort("Chromium is not installed (" + chromium + ": " + e.getMessage() + "); the page was "
                    + "checked but not rendered");
            return Map.of();
        }
        String dom = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        Matcher m = Pattern.compile("data-charts=\"([^\"]*)\"").matcher(dom);
        assertThat(m.find()).as("the laid-out page").isTrue();
        Map<String, int[]> charts = new LinkedHashMap<>();
        for (String c : m.group(1).isEmpty() ? new String[0] : m.group(1).split(" ")) {
            Matcher one = Pattern.compile("(\\w+):(\\d+)x(\\d+):(\\d+)").matcher(c);
            assertThat(one.matches()).as("chart entry '%s' (the check did not run?)", c).isTrue();
            charts.put(one.group(1), new int[] {Integer.parseInt(one.group(2)), Integer.parseInt(one.group(3)),
                    Integer.parseInt(one.group(4))});
        }
        return charts;
    }
}
