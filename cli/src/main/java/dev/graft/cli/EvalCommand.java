package dev.graft.cli;

import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
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
                + " normalized average (score divided by the task's fine-tuned model's). The models are not changed.")
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL", arity = "1..*", description = "ONNX models to evaluate")
    List<Path> models;

    @Option(names = "--tasks", required = true, paramLabel = "FILE", description = "the task file (tasks.yaml)")
    Path tasks;

    @Option(names = "--chart", paramLabel = "FILE.svg", description = "also write a bar chart of the scores (SVG)")
    Path chart;

    @Option(names = "--json", description = "print the report as JSON instead of a table")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        Evaluation evaluation = Evaluation.read(tasks);
        EvaluationReport r = evaluation.run(Evaluation.files(models));
        out.print(json ? r.json() : r.table());
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
