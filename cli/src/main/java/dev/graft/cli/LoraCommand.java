package dev.graft.cli;

import dev.graft.adapters.LoraApply;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft lora apply BASE --adapter DIR[:WEIGHT] ... -o OUT}, {@code graft lora compose --adapter DIR[:WEIGHT]
 * ... [--method cat|svd] -o DIR}, {@code graft lora extract BASE FINE_TUNED --rank R -o DIR} and {@code graft lora
 * export BASE --adapter DIR ... -o OUT}: LoRA adapters (PEFT folders) and ONNX models.
 */
@Command(name = "lora", mixinStandardHelpOptions = true, description = "LoRA adapters (PEFT folders) and ONNX models.",
        subcommands = {LoraCommand.Apply.class, LoraCommand.Compose.class, LoraCommand.Extract.class,
            LoraCommand.Export.class})
final class LoraCommand {
    /** Merges adapters into the base model's weights. */
    @Command(name = "apply", mixinStandardHelpOptions = true,
            description = "Merge weighted PEFT LoRA adapters into an ONNX model's weights (W + w·s·B·A).")
    static final class Apply implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "BASE", description = "the ONNX model")
        Path base;

        @Mixin
        Adapters adapters;

        @Option(names = "--map", paramLabel = "MODULE=INITIALIZER",
                description = "where a module's weight is, when node names do not say; repeatable")
        Map<String, String> mapping = Map.of();

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
        Path output;

        @Option(names = "--json", description = "machine-readable output")
        boolean json;

        @Override
        public Integer call() {
            LoraApply apply = LoraApply.to(base).mapping(mapping);
            adapters.weighted().forEach(e -> apply.adapter(e.getKey(), e.getValue()));
            LoraApply.Report r;
            try (Output.Progress progress = new Output.Progress("lora apply", json)) {
                r = apply.progress(progress).writeTo(output);
            }
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Output.json(out, r);
                return 0;
            }
            out.printf("%-44s %-24s %5s %8s %7s%n", "MODULE", "WEIGHT", "RANK", "SCALE", "TIMES");
            for (LoraApply.Applied m : r.modules()) {
                out.printf(Locale.ROOT, "%-44s %-24s %5d %8.4g %7.3g%n", m.module(), m.weight(), m.rank(), m.scale(),
                        m.adapterWeight());
            }
            if (!r.biases().isEmpty()) {
                out.println("biases replaced: " + String.join(", ", r.biases()));
            }
            Output.requantized(out, r.quantization());
            out.println("wrote " + output);
            return 0;
        }
    }

    /** Extracts an adapter from a fine-tuned model. */
    @Command(name = "extract", mixinStandardHelpOptions = true,
            description = "Extract a PEFT LoRA adapter from a base and a fine-tuned ONNX model (truncated SVD of "
                    + "each dense weight's change).")
    static final class Extract implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "BASE")
        Path base;

        @Parameters(index = "1", paramLabel = "FINE_TUNED")
        Path fineTuned;

        @Option(names = "--rank", defaultValue = "16", description = "rank of every module, or the most with --energy")
        int rank;

        @Option(names = "--no-biases", description = "leave changed biases out (reported as not captured), so the "
                + "adapter can be composed, shared and exported")
        boolean noBiases;

        @Option(names = "--energy", paramLabel = "SHARE",
                description = "per module, the smallest rank capturing this share of ‖ΔW‖² (0 to 1)")
        Double energy;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "the adapter folder")
        Path output;

        @Option(names = "--json", description = "machine-readable output")
        boolean json;

        @Override
        public Integer call() {
            dev.graft.adapters.LoraExtract x = dev.graft.adapters.LoraExtract.from(base, fineTuned).rank(rank)
                    .biases(!noBiases);
            if (energy != null) {
                x.energy(energy);
            }
            dev.graft.adapters.LoraExtract.Report r = x.writeTo(output);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Output.json(out, r);
                return 0;
            }
            out.printf("%-44s %-24s %5s %9s%n", "MODULE", "WEIGHT", "RANK", "CAPTURED");
            for (dev.graft.adapters.LoraExtract.Module m : r.modules()) {
                out.printf(Locale.ROOT, "%-44s %-24s %5d %8.2f%%%n", m.module(), m.weight(), m.rank(),
                        100 * m.capturedEnergy());
            }
            for (dev.graft.adapters.LoraExtract.Uncaptured u : r.uncaptured()) {
                out.printf(Locale.ROOT, "not captured: %s (relative change %.3g)%n", u.tensor(), u.relativeChange());
            }
            out.println("wrote " + output);
            return 0;
        }
    }

    /** Composes adapters into one. */
    @Command(name = "compose", mixinStandardHelpOptions = true,
            description = "Compose weighted PEFT LoRA adapters into one: cat (exact, ranks add), svd (the summed "
                    + "update re-factored to --rank), or a merge method such as ties on the full updates.")
    static final class Compose implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Mixin
        Adapters adapters;

        @Option(names = "--method", defaultValue = "cat", paramLabel = "cat|svd|METHOD",
                description = "cat (exact), svd (sum, re-factored), or a task-vector merge method on the full updates "
                        + "(ties, dare_ties, task_arithmetic, ...), re-factored to --rank")
        String method;

        @Option(names = "--param", paramLabel = "NAME=VALUE", description = "a merge method's parameter, e.g. "
                + "density=0.5")
        Map<String, Double> params = Map.of();

        @Option(names = "--seed", defaultValue = "0", description = "seed of random dropping (DARE)")
        long seed;

        @Option(names = "--rank", defaultValue = "16", description = "rank of the result with --method svd")
        int rank;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "the adapter folder")
        Path output;

        @Option(names = "--json", description = "machine-readable output")
        boolean json;

        @Override
        public Integer call() {
            dev.graft.adapters.LoraCompose c = dev.graft.adapters.LoraCompose.of();
            adapters.weighted().forEach(e -> c.adapter(e.getKey(), e.getValue()));
            switch (method) {
                case "cat" -> c.method(dev.graft.adapters.LoraCompose.Method.CAT, rank);
                case "svd" -> c.method(dev.graft.adapters.LoraCompose.Method.SVD, rank);
                default -> c.merged(dev.graft.merge.MergeMethods.create(method), params, seed, rank);
            }
            List<dev.graft.adapters.LoraCompose.Module> r = c.writeTo(output);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                Output.json(out, r);
                return 0;
            }
            out.printf("%-44s %5s %9s%n", "MODULE", "RANK", "CAPTURED");
            for (dev.graft.adapters.LoraCompose.Module x : r) {
                out.printf(Locale.ROOT, "%-44s %5d %8.2f%%%n", x.module(), x.rank(), 100 * x.capturedEnergy());
            }
            out.println("wrote " + output);
            return 0;
        }
    }

    /** Writes a graph with LoRA branches and an ONNX Runtime adapter file per adapter. */
    @Command(name = "export", mixinStandardHelpOptions = true,
            description = "Write BASE with LoRA branches on the adapters' modules (adapter weights as inputs with "
                    + "zero defaults; modules with LoRA input slots already, as Olive writes them, keep theirs) and, "
                    + "beside it, NAME.onnx_adapter for each adapter (ONNX Runtime's LoRA adapter API): switch "
                    + "adapters per run without reloading the model.")
    static final class Export implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "BASE", description = "the ONNX model")
        Path base;

        @Mixin
        Adapters adapters;

        @Option(names = "--map", paramLabel = "MODULE=INITIALIZER",
                description = "where a module's weight is, when node names do not say; repeatable")
        Map<String, String> mapping = Map.of();

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
        Path output;

        @Override
        public Integer call() {
            List<Map.Entry<Path, Double>> weighted = adapters.weighted();
            java.util.Set<String> modules = new java.util.LinkedHashSet<>();
            Map<Path, dev.graft.adapters.PeftAdapter> read = new java.util.LinkedHashMap<>();
            for (Path folder : weighted.stream().map(Map.Entry::getKey).distinct().toList()) {
                dev.graft.adapters.PeftAdapter adapter = dev.graft.adapters.PeftAdapter.read(folder);
                dev.graft.adapters.LoraRuntime.requireNoBiases(adapter, folder);
                modules.addAll(adapter.modules().keySet());
                read.put(folder, adapter);
            }
            int branched = dev.graft.adapters.LoraRuntime.graph(base, modules, mapping, output).size();
            PrintWriter out = spec.commandLine().getOut();
            out.println("wrote " + output + " with LoRA branches on " + branched + " modules" + (branched
                    == modules.size() ? "" : " (" + (modules.size() - branched) + " had LoRA input slots already)"));
            Path target = output.toAbsolutePath().getParent();
            for (Map.Entry<Path, Double> e : weighted) {
                String name = e.getKey().toAbsolutePath().normalize().getFileName().toString();
                Path file = target.resolve(name.endsWith(dev.graft.adapters.PeftAdapter.ONNX_ADAPTER) ? name
                        : name + dev.graft.adapters.PeftAdapter.ONNX_ADAPTER);
                dev.graft.adapters.LoraRuntime.export(read.get(e.getKey()), e.getValue(), output, file);
                out.println("wrote " + file);
            }
            return 0;
        }
    }

    /** {@code --adapter DIR[:WEIGHT]}, repeatable. */
    static final class Adapters {
        @Option(names = "--adapter", required = true, paramLabel = "DIR[:WEIGHT]",
                description = "a PEFT adapter folder (or an ONNX Runtime .onnx_adapter file) and its weight "
                        + "(default 1); repeatable")
        List<String> values;

        /** Each folder with its weight, in order (a folder may come more than once). */
        List<Map.Entry<Path, Double>> weighted() {
            return values.stream().map(MergeCommand.ModelArg::parse)
                    .map(a -> Map.entry(a.file(), a.weight() == null ? 1.0 : a.weight())).toList();
        }
    }
}
