package dev.graft.cli;

import dev.graft.GraftIoException;
import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import dev.graft.data.CalibrationSpec;
import dev.graft.eval.Evaluation;
import dev.graft.eval.EvaluationReport;
import dev.graft.report.ReportPage;
import dev.graft.exec.Execution;
import dev.graft.moe.MoeRecipe;
import dev.graft.moe.RoutedMerge;
import dev.graft.moe.Upcycle;
import dev.graft.moe.UpcycleRecipe;
import dev.graft.pleas.PleasRecipe;
import dev.graft.recipe.Recipe;
import dev.graft.recipe.Recipes;
import dev.graft.Graft;
import dev.graft.MergeBuilder;
import dev.graft.merge.Convention;
import dev.graft.merge.MergeMethods;
import dev.graft.merge.MergeRecipe;
import dev.graft.plan.LayerSummary;
import dev.graft.plan.MergeMethod;
import dev.graft.adapters.CheckpointImport;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.TemporaryFolder;
import dev.graft.plan.MergePlan;
import dev.graft.plan.MergeReport;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.Setting;
import dev.graft.pleas.Pleas;
import dev.graft.regmean.RegMean;
import dev.graft.regmean.RegMeanRecipe;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft merge RECIPE.yaml -o OUT} (a merge, PLeaS or LoRA recipe), or without a recipe
 * {@code graft merge --method ties --base B --model A:1 --model C:1 --param density=0.5 -o OUT}.
 */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge models of identical structure, from a recipe (mergekit's config shape) or from options.")
final class MergeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE", description = "a YAML recipe")
    Path recipe;

    @Option(names = "--method", description = "merge method: ${COMPLETION-CANDIDATES}; or regmean / regmean++ (with"
            + " --calibration per model)", completionCandidates = MethodNames.class)
    String method;

    @Option(names = "--calibration", paramLabel = "FILE", description = "regmean: each model's own data (.npy, or "
            + "text with --tokenizer), one per --model, in order")
    List<Path> calibrations;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "regmean: the tokenizer.json of text data")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "256", description = "regmean: text lines per model at most (default "
            + "${DEFAULT-VALUE})")
    int samples;

    @Option(names = "--base", paramLabel = "FILE", description = "the base model")
    Path base;

    @Option(names = "--model", paramLabel = "FILE[:WEIGHT]",
            description = "a model and its weight (default 1 for methods with weights); repeat for each model")
    List<String> models;

    @Option(names = "--template", paramLabel = "MODEL", description = "an ONNX export of the models' architecture: "
            + "--base and --model may then be Hugging Face checkpoints (model.safetensors, a shard index, or their "
            + "folder), written into it first (see graft import)")
    Path template;

    /** Checkpoints written into the template, for the merge's length (a hidden folder beside the output). */
    private TemporaryFolder imports;

    @Option(names = "--param", paramLabel = "NAME=VALUE", description = "a global parameter, e.g. density=0.5")
    Map<String, Double> params;

    @Option(names = "--convention", paramLabel = "mergekit|paper", description = "task-vector convention")
    String convention;

    @Option(names = "--seed", description = "seed of DARE and DELLA")
    Long seed;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--report", paramLabel = "FILE", description = "write the full report (per tensor and layer): "
            + "as one HTML page with charts when FILE ends in .html, as JSON otherwise")
    Path report;

    @Option(names = "--tasks", paramLabel = "FILE", description = "after the merge, score the merged model and its "
            + "inputs on the tasks of this task file (printed, and in an HTML report); merges by method")
    Path tasks;

    @Option(names = "--threads", description = "tensors merged at once (default: all cores)")
    Integer threads;

    @Mixin
    WriteOptionsMixin write;

    static final class MethodNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return MergeMethods.names().iterator();
        }
    }

    @Override
    public Integer call() throws IOException {
        try {
            return merge();
        } finally {
            if (imports != null) {
                imports.close();
            }
        }
    }

    /**
     * {@code file} as a model to merge: itself, or with {@code --template}, a checkpoint written into the template
     * (any path that is not an {@code .onnx} file).
     */
    private Path model(Path file) {
        if (template == null || (Files.isRegularFile(file) && file.toString().endsWith(".onnx"))) {
            return file;
        }
        if (imports == null) {
            Path parent = output.toAbsolutePath().getParent();
            try {
                Files.createDirectories(parent);
            } catch (IOException e) {
                throw new GraftIoException(parent, "created", e);
            }
            imports = TemporaryFolder.in(parent, ".graft-import-");
        }
        Path name = file.toAbsolutePath().normalize();
        String label = (Files.isDirectory(name) ? name : name.getParent()).getFileName() + ".onnx";
        Path imported = imports.resolve(label);
        CheckpointImport.Report r = CheckpointImport.onto(template).from(file).writeTo(imported);
        spec.commandLine().getErr().printf("graft: %s written into %s (%d initializers, %d kept from the template, "
                + "%d parameters not used)%n", file, template, r.mapped().size(), r.kept().size(), r.unused().size());
        return imported;
    }

    private Integer merge() throws IOException {
        MergeBuilder b;
        if (recipe != null) {
            checkNoOptions();
            Recipe parsed = Recipes.read(recipe);
            if (!(parsed instanceof MergeRecipe)) {
                refuseTasks("this recipe (" + parsed.getClass().getSimpleName() + ")");
                if (report != null && html() && !(parsed instanceof PleasRecipe || parsed instanceof MoeRecipe
                        || parsed instanceof UpcycleRecipe || parsed instanceof RegMeanRecipe)) {
                    throw new InvalidSettingException("--report " + report + ": this recipe ("
                            + parsed.getClass().getSimpleName() + ") writes its report as JSON (--report FILE.json)");
                }
            }
            checkReportWritable();
            if (parsed instanceof PleasRecipe p) {
                return pleas(p);
            }
            if (parsed instanceof MoeRecipe m) {
                RoutedMerge.Report r = m.run(output, Execution.defaults());
                return emit(r, () -> ReportPage.of(r, provenance()), out -> MoeCommand.print(out, r));
            }
            if (parsed instanceof UpcycleRecipe u) {
                Upcycle.Report r = u.run(output, Execution.defaults());
                return emit(r, () -> ReportPage.of(r, provenance()), out -> MoeCommand.print(out, r));
            }
            if (parsed instanceof RegMeanRecipe g) {
                RegMean.Report r = g.run(output, Execution.defaults());
                return emit(r, () -> ReportPage.of(r, provenance()), out -> printRegMean(out, "RegMean", r));
            }
            if (!(parsed instanceof MergeRecipe m)) {
                return emit(parsed.run(output, Execution.defaults()), null, out -> out.println("wrote " + output));
            }
            b = fromRecipe(m);
        } else if (method != null && method.toLowerCase(Locale.ROOT).startsWith("regmean")) {
            refuseTasks("RegMean");
            checkReportWritable();
            return regMean();
        } else {
            b = fromOptions();
            checkReportWritable();
        }
        if (write.elementType() != null) {
            b.outputType(write.elementType());
        }
        b.layout(write.layout());
        if (threads != null) {
            b.threads(threads);
        }
        // read first: a bad task file stops the command before the merge, not after it
        Evaluation evaluation = tasks == null ? null : Evaluation.read(tasks);
        MergeReport r;
        try (Output.Progress progress = new Output.Progress("merge", write.json)) {
            r = b.progress(progress).writeTo(output);
        }
        MergeReport merged = r;
        EvaluationReport scores = evaluation == null ? null : evaluate(evaluation, merged);
        return emit(r, () -> ReportPage.of(merged, scores), out -> {
            print(out, merged);
            if (scores != null) {
                out.print(scores.table());
                out.flush();
            }
        });
    }

    private boolean html() {
        return report.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".html");
    }

    /**
     * Fails before the merge rather than after it when --report cannot be written: the nearest of its folders that
     * exists must take a new file (tried, then deleted), so that the missing ones can be made once there is a report.
     * Nothing is left behind, whether the command then runs or fails.
     */
    private void checkReportWritable() {
        if (report == null) {
            return;
        }
        Path existing = report.toAbsolutePath().getParent();
        while (!Files.exists(existing) && existing.getParent() != null) {
            existing = existing.getParent();
        }
        try {
            Files.delete(Files.createTempFile(existing, ".graft-", ".tmp"));
        } catch (IOException e) {
            throw new GraftIoException(report, "written", e);
        }
    }

    /** --tasks is for merges by method: {@code what} is not one. */
    private void refuseTasks(String what) {
        if (tasks != null) {
            throw new InvalidSettingException("--tasks: a task evaluation is made for merges by method (a merge "
                    + "recipe, or --method), not for " + what + "; score its output with graft eval");
        }
    }

    /** The provenance Graft wrote into the output model. */
    private Provenance provenance() {
        try (OnnxModel m = OnnxModel.open(output)) {
            return Provenance.of(m);
        }
    }

    /** The merged model, the base and the inputs scored on {@code evaluation}'s tasks. */
    private EvaluationReport evaluate(Evaluation evaluation, MergeReport r) {
        List<Path> files = new ArrayList<>(List.of(output));
        if (r.base() != null) {
            files.add(Path.of(r.base().file()));
        }
        r.inputs().forEach(in -> files.add(Path.of(in.file())));
        return evaluation.run(Evaluation.files(files));
    }

    /**
     * Writes {@code r} to --report (as {@code page} makes it when the file is HTML: refused before the run for reports
     * without one, so {@code page} is null only then), and to the output as JSON (--json) or as {@code text} prints
     * it.
     */
    private int emit(Object r, Supplier<String> page, Consumer<PrintWriter> text) throws IOException {
        if (report != null && html()) {
            ReportPage.write(report, page.get());
        } else if (report != null) {
            Files.createDirectories(report.toAbsolutePath().getParent());
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(report))) {
                Output.json(w, r);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (write.json) {
            Output.json(out, r);
        } else {
            text.accept(out);
        }
        return 0;
    }

    private void checkNoOptions() {
        if (method != null || base != null || models != null || params != null || convention != null
                || calibrations != null || tokenizer != null) {
            throw new InvalidSettingException("give either a recipe or --method/--base/--model/--param, not both");
        }
    }

    private MergeBuilder fromRecipe(MergeRecipe parsed) {
        MergeBuilder b = parsed.builder();
        if (seed != null) {
            b.seed(seed);
        }
        return b;
    }

    /** A PLeaS recipe: the merge, its report (--report, --json) and its summary. */
    private int pleas(PleasRecipe parsed) throws IOException {
        Pleas.Report r;
        try (Output.Progress progress = Output.Progress.stages(write.json)) {
            r = parsed.run(output, Execution.defaults().withProgress(progress));
        }
        Pleas.Report merged = r;
        return emit(r, () -> ReportPage.of(merged, provenance()), out -> PleasCommand.print(out, merged, output));
    }

    /** {@code --method regmean} or {@code regmean++}: each model with its own calibration data. */
    private int regMean() throws IOException {
        String name = method.toLowerCase(Locale.ROOT);
        if (!name.equals("regmean") && !name.equals("regmean++")) {
            throw new InvalidSettingException("unknown method '" + method + "' (regmean or regmean++)");
        }
        if (base != null || convention != null || seed != null) {
            throw new InvalidSettingException("regmean takes no --base, --convention or --seed");
        }
        if (models == null || calibrations == null || models.size() != calibrations.size()) {
            throw new InvalidSettingException("regmean needs one --calibration per --model (each model's own data): "
                    + (models == null ? 0 : models.size()) + " models, "
                    + (calibrations == null ? 0 : calibrations.size()) + " calibrations");
        }
        double alpha = 0.95;
        if (params != null) {
            for (Map.Entry<String, Double> p : params.entrySet()) {
                if (!p.getKey().equals("alpha")) {
                    throw new InvalidSettingException("regmean has one parameter, alpha; got '" + p.getKey() + "'");
                }
                alpha = p.getValue();
            }
        }
        List<Path> files = new ArrayList<>();
        List<Calibration> data = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            ModelArg a = ModelArg.parse(models.get(i));
            if (a.weight() != null) {
                throw new InvalidSettingException("regmean weighs models by their data, not by a weight: " + models.get(i));
            }
            files.add(a.file());
        }
        RegMean merge = RegMean.merge(files).alpha(alpha).mergedInputs(name.equals("regmean++"));
        for (int i = 0; i < files.size(); i++) {
            Path c = calibrations.get(i);
            data.add(new CalibrationSpec(c, c.toString().endsWith(".npy") ? null : tokenizer, null, samples)
                    .load(files.get(i)));
        }
        RegMean.Report r = merge.calibration(data).writeTo(output);
        return emit(r, () -> ReportPage.of(r, provenance()), out -> printRegMean(out, name, r));
    }

    /** The one-line summary of a RegMean merge ({@code name}: the method as asked for). */
    private void printRegMean(PrintWriter out, String name, RegMean.Report r) {
        out.printf("%s: regressed %d layer weights on each model's inputs, averaged %d other tensors (alpha %s; passes "
                + "over the data: %d); wrote %s%n", name, r.regressed().size(), r.averaged(), r.alpha(), r.passes(),
                output);
    }

    private MergeBuilder fromOptions() {
        if (models == null || models.isEmpty()) {
            throw new InvalidSettingException("give a recipe, or --model for each model to merge");
        }
        Convention c = convention == null ? Convention.MERGEKIT : Convention.parse(convention);
        MergeMethod m = MergeMethods.create((method == null ? "linear" : method).toLowerCase(Locale.ROOT), c);
        boolean weighted = m.parameters().stream().anyMatch(p -> p.name().equals("weight")
                && p.scope() == ParameterSpec.Scope.MODEL);
        MergeBuilder b = Graft.merge().method(m);
        if (base != null) {
            b.base(model(base));
        }
        for (String spec : models) {
            ModelArg a = ModelArg.parse(spec);
            if (a.weight() != null) {
                b.model(model(a.file()), a.weight()); // refused by validate() if the method has no weights
            } else {
                b.model(model(a.file()), weighted ? Map.of("weight", Setting.of(1)) : Map.of());
            }
        }
        if (params != null) {
            params.forEach((k, v) -> b.parameter(k, Setting.of(v)));
        }
        if (seed != null) {
            b.seed(seed);
        }
        return b.validate();
    }

    static void print(PrintWriter out, MergeReport r) {
        out.printf("merged %d tensors with %s%s%n", r.merged(), r.method(), r.base() == null ? ""
                : " onto base " + r.base().file());
        for (MergeReport.Input in : r.inputs()) {
            out.printf("  %s %s sha256 %s%n", in.file(), in.parameters(), in.sha256().substring(0, 16));
        }
        for (MergeReport.Unmerged u : r.unmerged()) {
            out.printf("  not merged: %s (%s)%n", u.tensor(), u.reason());
        }
        Output.requantized(out, r.quantization());
        if (!r.renamed().isEmpty()) {
            out.printf("  paired by module and role, names differing: %d weights%n", r.renamed().size());
            for (MergePlan.Renamed p : r.renamed()) {
                out.printf("    %s = %s of %s (%s)%n", p.pairedWith(), p.tensor(), p.file(), p.module());
            }
        }
        if (!r.layers().isEmpty()) {
            out.printf("  %-9s %7s %-28s %9s %-20s %7s%n", "LAYER", "TENSORS", "TASK-VECTOR NORMS", "CONFLICT",
                    "TRIMMED", "COSINE");
            for (LayerSummary l : r.layers()) {
                out.printf("  %-9s %7d %-28s %9s %-20s %7s%n", l.layer(), l.tensors(), numbers(l.norms()),
                        l.signConflict() == null ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * l.signConflict()),
                        l.trimmed().stream().allMatch(t -> t == null) ? "-" : numbers(l.trimmed()),
                        l.meanCosine() == null ? "-" : String.format(Locale.ROOT, "%.3f", l.meanCosine()));
            }
        }
        out.printf("wrote %s (%s) in %.2f s%n", String.join(" + ", r.outputs()), Output.bytes(r.bytesWritten()),
                r.seconds());
    }

    private static String numbers(List<Double> values) {
        return values.stream().map(v -> v == null ? "-" : String.format(Locale.ROOT, "%.3g", v))
                .collect(Collectors.joining(" "));
    }

    /** {@code FILE[:WEIGHT]}; the weight is whatever follows the last ':' if it parses as a number, else null. */
    record ModelArg(Path file, Double weight) {
        static ModelArg parse(String spec) {
            int colon = spec.lastIndexOf(':');
            if (colon > 0) {
                try {
                    return new ModelArg(Path.of(spec.substring(0, colon)), Double.parseDouble(spec.substring(colon + 1)));
                } catch (NumberFormatException e) {
                    // not a weight: the ':' belongs to the path
                }
            }
            return new ModelArg(Path.of(spec), null);
        }
    }
}
