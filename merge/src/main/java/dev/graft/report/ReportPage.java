package dev.graft.report;

import dev.graft.GraftIoException;
import dev.graft.eval.BarChart;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Heatmap;
import dev.graft.eval.LinePlot;
import dev.graft.eval.Metric;
import dev.graft.eval.Svg;
import dev.graft.moe.RoutedMerge;
import dev.graft.moe.Upcycle;
import dev.graft.onnx.Provenance;
import dev.graft.plan.LayerSummary;
import dev.graft.plan.MergeReport;
import dev.graft.pleas.Pleas;
import dev.graft.regmean.RegMean;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A merge report as one self-contained HTML page (inline CSS and SVG; no script, font or image from elsewhere):
 * the method and its parameters, the inputs with their settings and SHA-256, what was written, and charts of the
 * per-layer diagnostics (TIES-Merging, Yadav et al. 2023, §3 and §6, reads merges through the same quantities):
 * each task vector's norm, the pairwise cosine similarity of task vectors, each model's share of entries
 * outvoted by the elected sign (a layer × model heatmap of sign conflicts), the share each sparsifying method
 * trimmed; then the tensors not merged and, where the models were evaluated, the per-task scores (an evaluation
 * alone, {@code graft eval}, has a page of its table and bar chart). The merges that are not by method have pages of
 * their own reports: PLeaS, routed merges (WEMoE, Mediator), upcycled mixtures and RegMean, each with its settings,
 * the inputs and SHA-256 as the written model's provenance records them, and charts of what the report measures per
 * group or layer. A small inline script only checks, once the page is laid out, that every chart has a size and
 * marks (it writes the result into the page's {@code data-charts} attribute, which the tests read through headless
 * Chromium).
 */
public final class ReportPage {
    private ReportPage() {
    }

    /** The page of {@code report}, with {@code evaluation}'s table when it is not null. */
    public static String of(MergeReport report, EvaluationReport evaluation) {
        List<String> names = modelNames(report);
        StringBuilder h = start("Merge report: " + report.method());
        h.append("<p class=\"meta\">Written: ").append(esc(String.join(", ", report.outputs())))
                .append(String.format(Locale.ROOT, " · %d tensors merged, %s written, %.1f s",
                        report.merged(), bytes(report.bytesWritten()), report.seconds()))
                .append("</p>\n");
        recipe(h, report);
        inputs(h, report, names);
        charts(h, report.layers(), names);
        unmerged(h, report);
        if (evaluation != null) {
            evaluation(h, evaluation);
        }
        return end(h);
    }

    /**
     * The page of an evaluation ({@code graft eval}): the models × tasks table with each model's average, and the
     * bar chart of the tasks whose metric is better when higher.
     */
    public static String of(EvaluationReport evaluation) {
        StringBuilder h = start("Evaluation: " + evaluation.models().size() + " models, " + evaluation.tasks().size()
                + " tasks");
        evaluation(h, evaluation);
        if (evaluation.metrics().stream().anyMatch(Metric::higherIsBetter)) {
            figure(h, "scores", evaluation.svg(), "Each model's score on each task whose metric is better when "
                    + "higher, and its average (normalized by each task's own fine-tuned model when every task names "
                    + "one).");
        }
        return end(h);
    }

    /**
     * The page of a PLeaS merge (Nasery et al., CVPR 2025): its settings, its inputs ({@code provenance}, the written
     * model's; none if null), each hidden group's width in one model and in the merge, the mean activation
     * correlation of the pairs it merged, and each fitted layer's relative least-squares residual.
     */
    public static String of(Pleas.Report r, Provenance provenance) {
        StringBuilder h = start("PLeaS merge: " + fileName(r.modelA()) + " + " + fileName(r.modelB()));
        written(h, r.files(), String.format(Locale.ROOT, "%d parameters against %d in one model (%.2f×)",
                r.parametersMerged(), r.parametersA(), r.parametersMerged() / (double) Math.max(1, r.parametersA())));
        keyValues(h, "Settings", new String[][] {{"width", num(r.width())}, {"matching", r.matching()},
            {"weight cosine of the models", num(r.weightCosine())}, {"spread", r.spread()}, {"ridge", num(r.ridge())},
            {"fit", r.fit()}, {"fit inputs", r.fitInputs()}, {"layers kept from model A", "" + r.keptLayers()},
            {"calibration samples", "" + r.samples()}, {"outputs", String.join(", ", r.outputs())}});
        provenance(h, provenance);
        h.append("<h2>Hidden groups</h2>\n");
        List<String> groups = r.groups().stream().map(Pleas.GroupReport::group).toList();
        if (!groups.isEmpty()) {
            double[][] widths = {r.groups().stream().mapToDouble(Pleas.GroupReport::width).toArray(),
                r.groups().stream().mapToDouble(Pleas.GroupReport::mergedWidth).toArray()};
            figure(h, "widths", BarChart.svg("Units per hidden group", "units", groups, List.of("one model",
                    "merged"), widths), "The merged width of each group: its least correlated pairs are kept apart "
                    + "(both units) as far as the width budget allows, the others merged into one unit each.");
            figure(h, "similarity", Heatmap.svg("Mean correlation of the merged pairs", groups,
                    List.of("correlation"), column(r.groups(), Pleas.GroupReport::meanSimilarity), -1, 1),
                    "How alike the matched units' activations are on the calibration data (grey: no pair whose "
                    + "units both vary on it). Low correlation means the merge averages units that compute "
                    + "different things; the least squares fit then has more to repair.");
        }
        table(h, List.of("group", "width", "merged width", "merged pairs", "constant pairs", "fixed because"),
                r.groups().stream().map(g -> List.of(g.group(), "" + g.width(), "" + g.mergedWidth(),
                        "" + g.mergedPairs(), "" + g.constantPairs(), g.fixed() == null ? "" : g.fixed())).toList());
        h.append("<h2>Layers</h2>\n");
        List<Pleas.LayerReport> fitted = r.layers().stream().filter(Pleas.LayerReport::fitted).toList();
        if (!fitted.isEmpty()) {
            Double[][] residuals = column(fitted, Pleas.LayerReport::relativeResidual);
            figure(h, "residuals", Heatmap.svg("Relative residual of each layer's least squares fit",
                    fitted.stream().map(Pleas.LayerReport::weight).toList(), List.of("residual"), residuals, 0,
                    max(residuals)), "‖X·W − Y‖ / ‖Y‖ on the calibration data: how much of the original models' "
                    + "outputs of the layer the merged layer cannot reproduce.");
        }
        table(h, List.of("weight", "inputs", "outputs", "fitted", "relative residual"), r.layers().stream()
                .map(l -> List.of(l.weight(), "" + l.inputs(), "" + l.outputs(), l.fitted() ? "yes" : "no",
                        l.fitted() ? num(l.relativeResidual()) : "")).toList());
        return end(h);
    }

    /**
     * The page of a routed merge (WEMoE, Tang et al., ICML 2024; Mediator, Lai et al., 2025): its settings, inputs,
     * and per router group the sign conflict and cosine of the experts' task vectors and the routing accuracy.
     */
    public static String of(RoutedMerge.Report r, Provenance provenance) {
        StringBuilder h = start("Routed merge (" + r.method() + "): " + r.experts() + " experts");
        written(h, List.of(r.target().toString()), bytes(r.bytes()));
        double accuracy = r.routingAccuracy();
        keyValues(h, "Settings", new String[][] {{"method", r.method()}, {"experts", "" + r.experts()},
            {"routers", r.routers()}, {"mean routing accuracy", Double.isNaN(accuracy) ? "not measured" : num(accuracy)}});
        provenance(h, provenance);
        h.append("<h2>Router groups</h2>\n");
        List<String> names = r.groups().stream().map(RoutedMerge.GroupReport::name).toList();
        if (!names.isEmpty()) {
            Double[][] cells = new Double[names.size()][];
            for (int g = 0; g < cells.length; g++) {
                RoutedMerge.GroupReport group = r.groups().get(g);
                cells[g] = new Double[] {finite(group.signConflict()), finite(group.cosine()),
                    finite(group.routingAccuracy())};
            }
            figure(h, "groups", Heatmap.svg("Experts' task vectors and routing, per group", names,
                    List.of("sign conflict", "cosine", "routing acc."), cells, -1, 1), "Sign conflict: the share of "
                    + "entries where two experts' task vectors have opposite signs; cosine: their mean pairwise cosine "
                    + "(both averaged over the group's weights by size); routing accuracy: the share of task samples "
                    + "whose largest coefficient is their own task's (grey: not measured, or not routed).");
        }
        table(h, List.of("group", "router input", "routed", "router", "weights"), r.groups().stream()
                .map(g -> List.of(g.name(), g.input(), g.routed() ? "yes" : "no", g.router() == null ? "" : g.router(),
                        String.join(", ", g.weights()))).toList());
        return end(h);
    }

    /**
     * The page of an upcycled mixture (Komatsuzaki et al., "Sparse Upcycling", ICLR 2023): its settings, inputs,
     * and per layer the mean cosine between its experts' gate vectors (1: the gate cannot tell them apart).
     */
    public static String of(Upcycle.Report r, Provenance provenance) {
        StringBuilder h = start("Upcycled mixture: " + r.experts() + " experts");
        written(h, List.of(r.target().toString()), bytes(r.bytes()));
        keyValues(h, "Settings", new String[][] {{"experts", "" + r.experts()},
            {"experts per token", "" + r.expertsPerToken()}, {"gates", r.gates()}, {"form", r.form().toString()}});
        provenance(h, provenance);
        h.append("<h2>Layers</h2>\n");
        if (!r.layers().isEmpty()) {
            figure(h, "gates", Heatmap.svg("Mean cosine between the experts' gate vectors", r.layers().stream()
                    .map(Upcycle.LayerReport::name).toList(), List.of("gate cosine"), column(r.layers(),
                    Upcycle.LayerReport::gateCosine), -1, 1), "Near 1: the layer's gate scores every token alike for "
                    + "all experts, so routing there is close to arbitrary; lower: the gate tells the experts apart.");
        }
        table(h, List.of("layer", "gate input", "activation", "MLP weights"), r.layers().stream()
                .map(l -> List.of(l.name(), l.input(), l.activation(), String.join(", ", l.weights()))).toList());
        return end(h);
    }

    /**
     * The page of a RegMean merge (Jin et al., ICLR 2023): its settings, inputs and the layer weights regressed on
     * each model's inputs (RegMean's report has no per-layer measure to chart).
     */
    public static String of(RegMean.Report r, Provenance provenance) {
        StringBuilder h = start("RegMean merge: " + r.models().size() + " models");
        written(h, r.files(), r.regressed().size() + " weights regressed, " + r.averaged() + " tensors averaged");
        keyValues(h, "Settings", new String[][] {{"models", String.join(", ", r.models())}, {"alpha", num(r.alpha())},
            {"passes over each model's data", "" + r.passes()}});
        provenance(h, provenance);
        h.append("<h2>Regressed weights</h2>\n");
        table(h, List.of("weight"), r.regressed().stream().map(List::of).toList());
        return end(h);
    }

    private static void written(StringBuilder h, List<String> files, String what) {
        h.append("<p class=\"meta\">Written: ").append(esc(String.join(", ", files))).append(" · ").append(esc(what))
                .append("</p>\n");
    }

    /** A section of one table of names and values. */
    private static void keyValues(StringBuilder h, String title, String[][] rows) {
        h.append("<h2>").append(esc(title)).append("</h2>\n<table>\n");
        for (String[] row : rows) {
            h.append("<tr><th>").append(esc(row[0])).append("</th><td>").append(esc(row[1])).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    /** The inputs as the written model's provenance records them: file names and SHA-256, with their data files. */
    private static void provenance(StringBuilder h, Provenance p) {
        h.append("<h2>Inputs</h2>\n");
        if (p == null) {
            h.append("<p>The written model records no inputs.</p>\n");
            return;
        }
        table(h, List.of("file", "SHA-256", "external data"), p.inputs().stream().map(in -> List.of(in.file(),
                in.sha256(), String.join(", ", in.data().stream().map(d -> d.file() + " " + d.sha256()).toList())))
                .toList());
    }

    private static void table(StringBuilder h, List<String> header, List<List<String>> rows) {
        h.append("<table>\n<tr>");
        header.forEach(c -> h.append("<th>").append(esc(c)).append("</th>"));
        h.append("</tr>\n");
        for (List<String> row : rows) {
            h.append("<tr>");
            row.forEach(c -> h.append("<td>").append(esc(c)).append("</td>"));
            h.append("</tr>\n");
        }
        h.append("</table>\n");
    }

    /** One heatmap column of {@code value} over {@code rows}; NaN becomes a missing (grey) cell. */
    private static <T> Double[][] column(List<T> rows, ToDoubleFunction<T> value) {
        Double[][] cells = new Double[rows.size()][1];
        for (int k = 0; k < cells.length; k++) {
            cells[k][0] = finite(value.applyAsDouble(rows.get(k)));
        }
        return cells;
    }

    private static String fileName(String path) {
        Path name = Path.of(path).getFileName();
        return name == null ? path : name.toString();
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.4g", v);
    }

    private static StringBuilder start(String title) {
        return new StringBuilder("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Graft: ")
                .append(esc(title)).append("</title>\n<style>\n").append(STYLE).append("</style>\n</head>\n")
                .append("<body data-charts=\"unchecked\">\n<h1>").append(esc(title)).append("</h1>\n");
    }

    private static String end(StringBuilder h) {
        return h.append("<script>\n").append(CHECK).append("</script>\n</body>\n</html>\n").toString();
    }

    /** Writes {@code page} to {@code file} (through a temporary file beside it, then moved into place). */
    public static void write(Path file, String page) {
        Path target = file.toAbsolutePath();
        try {
            Files.createDirectories(target.getParent());
            Path tmp = target.resolveSibling("." + target.getFileName() + "."
                    + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
            try {
                Files.writeString(tmp, page, StandardCharsets.UTF_8,
                        StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    /** Short labels for the models, in the report's order: their file names. */
    private static List<String> modelNames(MergeReport r) {
        List<String> names = new ArrayList<>();
        for (MergeReport.Input in : r.inputs()) {
            String name = fileName(in.file());
            names.add(name.endsWith(".onnx") ? name.substring(0, name.length() - 5) : name);
        }
        return names;
    }

    private static void recipe(StringBuilder h, MergeReport r) {
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"method", r.method()});
        for (Map.Entry<String, String> p : r.parameters().entrySet()) {
            if (!p.getKey().equals("method")) {
                rows.add(new String[] {p.getKey(), p.getValue()});
            }
        }
        keyValues(h, "Recipe", rows.toArray(String[][]::new));
    }

    private static void inputs(StringBuilder h, MergeReport r, List<String> names) {
        h.append("<h2>Inputs</h2>\n<table>\n<tr><th>model</th><th>file</th><th>settings</th><th>SHA-256</th></tr>\n");
        if (r.base() != null) {
            input(h, "base", r.base());
        }
        for (int i = 0; i < r.inputs().size(); i++) {
            input(h, names.get(i), r.inputs().get(i));
        }
        h.append("</table>\n");
    }

    private static void input(StringBuilder h, String label, MergeReport.Input in) {
        h.append("<tr><td>").append(esc(label)).append("</td><td>").append(esc(in.file())).append("</td><td>")
                .append(esc(in.parameters() == null ? "" : in.parameters().toString()))
                .append("</td><td class=\"hash\">").append(esc(in.sha256() == null ? "" : in.sha256()))
                .append("</td></tr>\n");
    }

    private static void charts(StringBuilder h, List<LayerSummary> layers, List<String> names) {
        h.append("<h2>Per-layer diagnostics</h2>\n");
        if (layers.isEmpty()) {
            h.append("<p>No diagnostics were gathered for this merge.</p>\n");
            return;
        }
        List<String> rows = layers.stream().map(LayerSummary::layer).toList();
        numbered(h, "norms", "Task-vector norm ‖θᵢ − θ₀‖ per layer", "L2 norm", layers, names, LayerSummary::norms,
                "How far each model moved from the base, layer by layer. A model whose norm dwarfs the others' "
                + "dominates a linear merge there.");
        if (names.size() >= 2) {
            List<String> pairs = new ArrayList<>();
            List<int[]> index = new ArrayList<>();
            for (int a = 0; a < names.size(); a++) {
                for (int b = a + 1; b < names.size(); b++) {
                    pairs.add(names.get(a) + " · " + names.get(b));
                    index.add(new int[] {a, b});
                }
            }
            Double[][] cos = new Double[layers.size()][pairs.size()];
            for (int k = 0; k < layers.size(); k++) {
                for (int p = 0; p < pairs.size(); p++) {
                    List<List<Double>> c = layers.get(k).cosines();
                    cos[k][p] = c == null ? null : c.get(index.get(p)[0]).get(index.get(p)[1]);
                }
            }
            figure(h, "cosines", Heatmap.svg("Cosine similarity of task vectors, per layer and pair", rows, pairs,
                    cos, -1, 1), "Near 0: the models changed different things (they merge with little interference); "
                    + "negative: they pulled the same weights in opposite directions.");
        }
        if (layers.stream().anyMatch(l -> l.outvoted() != null && l.outvoted().stream().anyMatch(v -> v != null))) {
            Double[][] outvoted = new Double[layers.size()][names.size()];
            for (int k = 0; k < layers.size(); k++) {
                for (int m = 0; m < names.size(); m++) {
                    outvoted[k][m] = layers.get(k).outvoted().get(m);
                }
            }
            figure(h, "signs", Heatmap.svg("Sign conflicts: share of each model's entries outvoted by the elected "
                    + "sign", rows, names, outvoted, 0, max(outvoted)), "The share of a layer's entries where the "
                    + "model's task vector has the opposite sign to the sum of all task vectors (the sign TIES elects, "
                    + "before trimming): what sign election discards of that model. Per layer, the rate at which any "
                    + "two models disagree is " + range(layers) + ".");
        }
        if (layers.stream().anyMatch(l -> l.trimmed().stream().anyMatch(v -> v != null))) {
            numbered(h, "trimmed", "Share of each task vector trimmed", "share set to zero", layers, names,
                    LayerSummary::trimmed, "What sparsification (TIES's trim, DARE's drop) set to zero, size-weighted "
                    + "over the layer's tensors.");
        }
    }

    /**
     * A per-model quantity over the layers: a line per model over the numbered layers when there are two or more
     * (tensors outside numbered layers, such as embeddings, are left out of the lines), a layer × model heatmap
     * otherwise.
     */
    private static void numbered(StringBuilder h, String id, String title, String unit, List<LayerSummary> layers,
                                 List<String> names, Function<LayerSummary, List<Double>> value,
                                 String caption) {
        List<LayerSummary> lines = new ArrayList<>();
        List<Double> x = new ArrayList<>();
        for (LayerSummary l : layers) {
            Matcher m = LAYER.matcher(l.layer());
            if (m.matches()) {
                lines.add(l);
                x.add(Double.parseDouble(m.group(1)));
            }
        }
        if (lines.size() >= 2) {
            double[] xs = x.stream().mapToDouble(Double::doubleValue).toArray();
            LinePlot plot = LinePlot.linear(title, "layer", unit);
            for (int m = 0; m < names.size(); m++) {
                double[] y = new double[lines.size()];
                for (int k = 0; k < y.length; k++) {
                    Double v = value.apply(lines.get(k)).get(m);
                    y[k] = v == null ? 0 : v;
                }
                plot.series(names.get(m), xs, y);
            }
            figure(h, id, LinePlot.svg(List.of(plot)), caption + (lines.size() < layers.size()
                    ? " (Tensors outside numbered layers are in the JSON report.)" : ""));
            return;
        }
        Double[][] cells = new Double[layers.size()][names.size()];
        for (int k = 0; k < layers.size(); k++) {
            for (int m = 0; m < names.size(); m++) {
                cells[k][m] = value.apply(layers.get(k)).get(m);
            }
        }
        figure(h, id, Heatmap.svg(title, layers.stream().map(LayerSummary::layer).toList(), names, cells, 0,
                max(cells)), caption);
    }

    private static final Pattern LAYER = Pattern.compile("layer (\\d+)");

    private static double max(Double[][] values) {
        double top = 0;
        for (Double[] row : values) {
            for (Double v : row) {
                top = v == null ? top : Math.max(top, v);
            }
        }
        return top > 0 ? top : 1;
    }

    private static String range(List<LayerSummary> layers) {
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (LayerSummary l : layers) {
            if (l.signConflict() != null) {
                lo = Math.min(lo, l.signConflict());
                hi = Math.max(hi, l.signConflict());
            }
        }
        return lo > hi ? "not known" : String.format(Locale.ROOT, "%.1f%% to %.1f%%", 100 * lo, 100 * hi);
    }

    private static void figure(StringBuilder h, String id, String svg, String caption) {
        h.append("<figure class=\"chart\" id=\"").append(id).append("\">\n").append(svg).append("<figcaption>")
                .append(esc(caption)).append("</figcaption>\n</figure>\n");
    }

    private static void unmerged(StringBuilder h, MergeReport r) {
        h.append("<h2>Not merged</h2>\n");
        if (r.unmerged().isEmpty()) {
            h.append("<p>Every tensor was merged.</p>\n");
            return;
        }
        h.append("<table>\n<tr><th>tensor</th><th>why</th></tr>\n");
        for (MergeReport.Unmerged u : r.unmerged()) {
            h.append("<tr><td>").append(esc(u.tensor())).append("</td><td>").append(esc(u.reason()))
                    .append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static void evaluation(StringBuilder h, EvaluationReport e) {
        h.append("<h2>Evaluation</h2>\n<table>\n<tr><th>model</th>");
        for (int t = 0; t < e.tasks().size(); t++) {
            h.append("<th>").append(esc(e.tasks().get(t))).append(" (").append(esc(e.metrics().get(t).displayName()))
                    .append(")</th>");
        }
        h.append("<th>average</th></tr>\n");
        for (int m = 0; m < e.models().size(); m++) {
            h.append("<tr><td>").append(esc(e.models().get(m))).append("</td>");
            for (int t = 0; t < e.tasks().size(); t++) {
                h.append(String.format(Locale.ROOT, "<td class=\"num\">%.3f</td>", e.score(m, t)));
            }
            h.append(String.format(Locale.ROOT, "<td class=\"num\">%.3f</td></tr>%n", e.average(m)));
        }
        h.append("</table>\n");
    }

    private static String bytes(long n) {
        return n >= 1 << 20 ? String.format(Locale.ROOT, "%.1f MB", n / 1e6) : n + " bytes";
    }

    private static String esc(String s) {
        return Svg.escape(s);
    }

    private static final String STYLE = """
            body { font-family: sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1100px; color: #222; }
            h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
            table { border-collapse: collapse; font-size: 0.9em; }
            th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
            td.num { text-align: right; font-variant-numeric: tabular-nums; }
            td.hash { font-family: monospace; font-size: 0.85em; word-break: break-all; }
            figure.chart { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
            .meta { color: #555; }
            """;

    /** Marks the page with what each chart drew once laid out (count of marks, size), for headless checks. */
    private static final String CHECK = """
            window.addEventListener('load', function () {
              var out = [];
              document.querySelectorAll('figure.chart').forEach(function (f) {
                var svg = f.querySelector('svg');
                var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
                var marks = svg ? svg.querySelectorAll('polyline, circle, rect.cell, rect.bar').length : 0;
                out.push(f.id + ':' + Math.round(box.width) + 'x' + Math.round(box.height) + ':' + marks);
              });
              document.body.setAttribute('data-charts', out.join(' '));
            });
            """;
}
