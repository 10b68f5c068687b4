package dev.graft.examples;

import dev.graft.InvalidSettingException;
import dev.graft.adapters.LoraApply;
import dev.graft.adapters.LoraShare;
import dev.graft.adapters.RecursiveModel;
import dev.graft.data.Calibration;
import dev.graft.eval.LinePlot;
import dev.graft.eval.OutputSimilarity;
import dev.graft.eval.Metric;
import dev.graft.eval.Task;
import dev.graft.eval.TaskData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Sharing weights across the layers of bge-small-en-v1.5, measured: file size, parameters, output similarity to
 * the reference (cosine of {@code last_hidden_state} over the 800 texts of {@code recipes/text/retrieval.tsv}) and
 * retrieval MRR (a {@link Metric#MRR} {@link Task} on the same pairs), at LoRA ranks 8 to 128.
 * <ul>
 *   <li>{@code recursive}: the 12 layers tied into 6 and into 4 consecutive blocks ({@link RecursiveModel}),
 *   weight-only and data-aware (calibrated on {@code recipes/text/heldout.txt}, sentences that are not in the
 *   retrieval set); the reference is bge itself.</li>
 *   <li>{@code share}: the update from bge to e5-small-v2 (same architecture and start) as adapters whose layers
 *   share one {@code A} per module kind, per group of alike layers, or nothing ({@link LoraShare}), applied to
 *   bge; the reference is bge with e5's dense weights (what the adapters can carry).</li>
 * </ul>
 * Prints a Markdown table per part and writes an SVG plot of quality against rank and size ({@link #plot}).
 *
 * <p>Run: {@code java -cp ... dev.graft.examples.SharedLayersText recursive|share MODELS_FOLDER TEXT_FOLDER WORK
 * PLOT.svg [RANK...]}; {@code ... SharedLayersText plot recursive|share PRINTED.txt REFERENCE PLOT.svg} redraws
 * the plot from the table a run printed.
 */
public final class SharedLayersText {
    private static final int[] RANKS = {8, 16, 32, 64, 128};

    private SharedLayersText() {
    }

    /** One measured model. */
    record Row(String series, int rank, long bytes, long parameters, double similarity, double mrr) {
    }

    public static void main(String[] args) throws IOException {
        String part = args[0];
        if (part.equals("plot")) { // plot recursive|share PRINTED.txt REFERENCE PLOT.svg: redraw from a run's table
            plot(Path.of(args[4]), args[1], rows(Files.readAllLines(Path.of(args[2]))), Double.parseDouble(args[3]));
            return;
        }
        Path models = Path.of(args[1]);
        Path text = Path.of(args[2]);
        Path work = Files.createDirectories(Path.of(args[3]));
        Path plot = Path.of(args[4]);
        int[] ranks = args.length > 5 ? java.util.Arrays.stream(args, 5, args.length).mapToInt(Integer::parseInt)
                .toArray() : RANKS;
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        Path tokenizer = models.resolve("bge-small-en-v1.5-tokenizer.json");
        Task mrr = Task.of("retrieval", TaskData.text(text.resolve("retrieval.tsv"), TaskData.Layout.PAIRS, tokenizer,
                400, List.of()), Metric.MRR);
        Path texts = work.resolve("retrieval-texts.txt");
        List<String> lines = new ArrayList<>();
        for (String pair : Files.readAllLines(text.resolve("retrieval.tsv"))) {
            lines.addAll(List.of(pair.split("\t", 2)));
        }
        Files.write(texts, lines);
        Calibration evaluation = Calibration.text(texts, tokenizer, lines.size(), 128);
        List<Row> rows = new ArrayList<>();
        Path reference;
        double referenceValue;
        if (part.equals("recursive")) {
            reference = bge;
            referenceValue = mrr.evaluate(bge);
            System.out.printf(Locale.ROOT, "original: %.1f MB, MRR %.3f%n", Files.size(bge) / 1e6, referenceValue);
            OutputSimilarity similarity = new OutputSimilarity(bge, evaluation);
            Calibration heldout = Calibration.text(text.resolve("heldout.txt"), tokenizer, 1024, 128);
            for (int blocks : new int[] {6, 4}) {
                for (boolean calibrated : new boolean[] {false, true}) {
                    RecursiveModel converter = RecursiveModel.of(bge).blocks(blocks);
                    if (calibrated) {
                        converter.calibration(heldout);
                    }
                    String series = blocks + " blocks, " + (calibrated ? "data-aware" : "weight-only");
                    for (int rank : ranks) {
                        Path out = work.resolve("recursive.onnx");
                        long start = System.nanoTime();
                        RecursiveModel.Report r = converter.rank(rank).writeTo(out);
                        double seconds = (System.nanoTime() - start) / 1e9;
                        rows.add(measure(series, rank, out, r.denseParametersAfter(), similarity, mrr));
                        System.out.printf(Locale.ROOT, "%s, rank %d: converted in %.1f s%n", series, rank, seconds);
                    }
                }
            }
        } else if (part.equals("share")) {
            Path e5 = models.resolve("e5-small-v2.onnx");
            System.out.printf(Locale.ROOT, "bge MRR %.3f, e5 MRR %.3f%n", mrr.evaluate(bge), mrr.evaluate(e5));
            reference = work.resolve("bge-with-e5-dense.onnx");
            Path exact = work.resolve("exact");
            LoraShare.between(bge, e5).rank(384).groups(12).writeTo(exact);
            LoraApply.to(bge).adapter(exact).writeTo(reference);
            OutputSimilarity similarity = new OutputSimilarity(reference, evaluation);
            referenceValue = similarity.evaluate(bge); // for the plot: where no adapter at all stands
            System.out.printf(Locale.ROOT, "bge with e5's dense weights (all 72 dense updates, exact): MRR %.3f, "
                    + "similarity to e5 %.4f; bge's similarity to it %.4f%n", mrr.evaluate(reference),
                    new OutputSimilarity(e5, evaluation).evaluate(reference), referenceValue);
            for (int groups : new int[] {1, 3, 12}) {
                String series = groups == 12 ? "per layer (no sharing)" : groups == 1 ? "one A per kind"
                        : groups + " groups per kind";
                for (int rank : ranks) {
                    Path adapter = work.resolve("shared");
                    List<LoraShare.Kind> kinds = LoraShare.between(bge, e5).rank(rank).groups(groups)
                            .writeTo(adapter);
                    Path out = work.resolve("applied.onnx");
                    LoraApply.to(bge).adapter(adapter).writeTo(out);
                    long parameters = kinds.stream().mapToLong(LoraShare.Kind::parametersAfter).sum();
                    Row row = measure(series, rank, out, parameters, similarity, mrr);
                    rows.add(new Row(series, rank, Files.size(adapter.resolve("adapter_model.safetensors")),
                            parameters, row.similarity(), row.mrr()));
                }
            }
        } else {
            throw new InvalidSettingException("the part must be recursive or share, got '" + part + "'");
        }
        System.out.println();
        System.out.printf("| series | rank | %s (MB) | parameters | output similarity | MRR |%n",
                part.equals("share") ? "adapter" : "file");
        System.out.println("| --- | --- | --- | --- | --- | --- |");
        for (Row r : rows) {
            System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.2fM | %.4f | %.3f |%n", r.series(), r.rank(),
                    r.bytes() / 1e6, r.parameters() / 1e6, r.similarity(), r.mrr());
        }
        plot(plot, part, rows, referenceValue);
        System.out.println("reference: " + reference + "; plot: " + plot);
    }

    /**
     * Quality against rank and against size, one line per series, with the reference as a dashed line: MRR for the
     * recursive models (the reference the original's MRR), output similarity to the reference for the adapters
     * (whose reference is not a retrieval model of its own: bge with another model's dense weights; the second
     * reference value is then bge's own similarity to it, where no adapter stands).
     */
    static void plot(Path file, String part, List<Row> rows, double reference) {
        boolean share = part.equals("share");
        String metric = share ? "output similarity" : "retrieval MRR";
        Map<String, List<Row>> bySeries = new LinkedHashMap<>();
        rows.forEach(r -> bySeries.computeIfAbsent(r.series(), k -> new ArrayList<>()).add(r));
        LinePlot byRank = LinePlot.log2(metric + " against LoRA rank", "rank", metric);
        // a PEFT adapter file repeats the shared A in every layer; what sharing saves shows in unique parameters
        LinePlot bySize = LinePlot.linear(metric + " against size", share ? "unique parameters (MB as float32)"
                : "file (MB)", metric);
        bySeries.forEach((name, rs) -> {
            double[] y = rs.stream().mapToDouble(r -> share ? r.similarity() : r.mrr()).toArray();
            byRank.series(name, rs.stream().mapToDouble(Row::rank).toArray(), y);
            bySize.series(name, rs.stream().mapToDouble(r -> (share ? 4 * r.parameters() : r.bytes()) / 1e6)
                    .toArray(), y);
        });
        if (share) {
            byRank.reference("bge + all dense updates", 1).reference("bge, no adapter", reference);
            bySize.reference("bge + all dense updates", 1).reference("bge, no adapter", reference);
        } else {
            byRank.reference("original", reference);
            bySize.reference("original", reference);
        }
        LinePlot.row(file, List.of(byRank, bySize));
    }

    /** The rows of a table this program printed ({@code | series | rank | MB | …M | similarity | MRR |}). */
    static List<Row> rows(List<String> printed) {
        List<Row> rows = new ArrayList<>();
        for (String line : printed) {
            String[] c = line.split("\\|");
            if (c.length == 7 && c[2].strip().matches("\\d+")) {
                rows.add(new Row(c[1].strip(), Integer.parseInt(c[2].strip()),
                        Math.round(Double.parseDouble(c[3].strip()) * 1e6),
                        Math.round(Double.parseDouble(c[4].strip().replace("M", "")) * 1e6),
                        Double.parseDouble(c[5].strip()), Double.parseDouble(c[6].strip())));
            }
        }
        return rows;
    }

    private static Row measure(String series, int rank, Path model, long parameters, OutputSimilarity similarity,
                               Task mrr) throws IOException {
        Row row = new Row(series, rank, Files.size(model), parameters, similarity.evaluate(model),
                mrr.evaluate(model));
        System.out.printf(Locale.ROOT, "%s, rank %d: %.1f MB, %d parameters, similarity %.4f, MRR %.3f%n", series,
                rank, row.bytes() / 1e6, parameters, row.similarity(), row.mrr());
        System.out.flush();
        return row;
    }
}
