package dev.graft.cli;

import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.search.SubsetAverages;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code graft eval MODEL... --tasks tasks.yaml}: a models × tasks table of scores. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate models on the tasks of a task file (YAML: data, metric, head, pooling, each task's"
                + " own fine-tuned model) and print a models × tasks table with each model's average and"
                + " normalized average (score divided by the task's fine-tuned model's). With --subsets, score the"
                + " parameter averages of subsets of the models instead, and a summary by subset size. The models"
                + " are not changed.")
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL", arity = "1..*", description = "ONNX models to evaluate")
    List<Path> models;

    @Option(names = "--tasks", required = true, paramLabel = "FILE", description = "the task file (tasks.yaml)")
    Path tasks;

    @Option(names = "--chart", paramLabel = "FILE.svg", description = "also write a bar chart of the scores (SVG)")
    Path chart;

    @Option(names = "--report", paramLabel = "FILE", description = "also write the report: as one HTML page (the "
            + "table and the chart) when FILE ends in .html, as JSON otherwise")
    Path report;

    @Option(names = "--json", description = "print the report as JSON instead of a table")
    boolean json;

    @Option(names = "--subsets", description = "score the averages of subsets of the models (one architecture)")
    boolean subsets;

    @Option(names = "--max-subsets", defaultValue = "256", description = "with --subsets: at most this many (default "
            + "256; beyond, every single model, the whole pool and random subsets of each size)")
    int maxSubsets;

    @Option(names = "--seed", defaultValue = "0", description = "with --subsets: the seed of the random subsets")
    long seed;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Evaluation evaluation = Evaluation.read(tasks);
        EvaluationReport r;
        String summary = "";
        if (subsets) {
            List<String> names = Evaluation.files(models).stream().map(dev.graft.eval.Candidate::name).toList();
            try (TemporaryFolder work = TemporaryFolder.create("graft-subsets-")) {
                SubsetAverages.Report report = SubsetAverages.run(models, names, evaluation.tasks(), maxSubsets, seed,
                        work.resolve(""));
                r = report.scores();
                summary = report.bySize();
            }
        } else {
            r = evaluation.run(Evaluation.files(models));
        }
        out.print(json ? r.json() : r.table());
        if (!json && !summary.isEmpty()) {
            out.print("\n" + summary);
        }
        if (report != null) {
            if (report.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".html")) {
                dev.graft.report.ReportPage.write(report, dev.graft.report.ReportPage.of(r));
            } else {
                dev.graft.report.ReportPage.write(report, r.json());
            }
            if (!json) {
                out.println("report: " + report);
            }
        }
        if (chart != null) {
            r.writeSvg(chart);
            if (!json) {
                out.println("chart: " + chart);
            }
        }
        out.flush();
        return 0;
    }
}
