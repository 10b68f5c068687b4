package dev.graft.examples;

import dev.graft.InvalidSettingException;
import dev.graft.adapters.LoraExperts;
import dev.graft.data.Calibration;
import dev.graft.eval.Candidate;
import dev.graft.eval.EvaluationReport;
import dev.graft.exec.Threads;
import dev.graft.moe.GateSource;
import dev.graft.moe.RoutedMerge;
import dev.graft.moe.RouterSource;
import dev.graft.moe.RoutingAccuracy;
import dev.graft.moe.Upcycle;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Routed merges on a multi-task benchmark ({@link TaskBenchmark}'s suites): per-task accuracy on the test split of
 * WEMoE with each router source next to the static merge it starts from (task arithmetic, λ 0.3), and for each model
 * its parameters, file size, ONNX Runtime latency on one batch of the test split (the median batch by length;
 * against the dense merge and against running every fine-tune, the ensemble; the models run in turn, round after
 * round) and how often its routers pick each sample's own task, on the samples they were fitted
 * to and on the test split's. Routers are fitted to the suite's unlabelled task data (text: each task's first 128
 * training texts; digits: the first half of the held-out images). Run from {@code examples}:
 * {@code java dev.graft.examples.MoeBenchmark text MODELS_DIR [WORK_DIR]} or
 * {@code java dev.graft.examples.MoeBenchmark digits [WORK_DIR]}.
 */
public final class MoeBenchmark {
    private MoeBenchmark() {
    }

    /**
     * One routed variant: its row name and how it is written (to the path given; returns a description of what was
     * written and the routing accuracy on the samples the routers were fitted to, NaN where there are none).
     */
    private record Variant(String name, java.util.function.Function<Path, Map.Entry<String, Double>> write,
                           boolean routers) {
        static Variant of(String name, RoutedMerge moe) {
            return new Variant(name, file -> {
                RoutedMerge.Report r = moe.writeTo(file);
                return Map.entry(r.groups().toString(), r.routingAccuracy());
            }, true);
        }

        static Variant of(String name, Upcycle upcycle) {
            return new Variant(name, file -> {
                Upcycle.Report r = upcycle.writeTo(file);
                return Map.entry(r.layers().toString(), Double.NaN);
            }, false);
        }
    }

    public static void main(String[] args) throws IOException {
        boolean digits = args[0].equals("digits");
        int given = digits ? 1 : 2;
        Path work = Files.createDirectories(Path.of(args.length > given ? args[given]
                : "target/" + (digits ? "digits-moe" : "text-moe")));
        TaskBenchmark.Suite suite = digits ? TaskBenchmark.digits(Path.of("recipes/digits"))
                : TaskBenchmark.text(Path.of(args[1]), work);
        List<Calibration> heldOut = digits ? heldOutDigits(Path.of("recipes/digits"))
                : new TextTasks(Path.of("recipes/text-tasks"), suite.base(),
                Path.of(args[1]).resolve("bge-small-en-v1.5-tokenizer.json")).texts("test", Integer.MAX_VALUE);
        List<Path> experts = new ArrayList<>(suite.fineTuned().values());
        List<Calibration> fit = suite.data();
        String ood = System.getProperty("moe.ood");
        if (ood != null) {
            String table = outOfDistribution(suite, heldOut, ood, work);
            System.out.print(table);
            Files.writeString(work.resolve("moe-ood.md"), table);
            return;
        }
        double lambda = 0.3;
        List<Variant> variants = new ArrayList<>();
        for (String spec : System.getProperty("moe.variants",
                "wemoe/fitted/mlp,wemoe/prototypes/mlp,wemoe/fitted/all,mediator/fitted/mlp,mediator/fitted/all")
                .split(",")) {
            variants.add(variant(spec, suite.base(), experts, fit));
        }
        List<Candidate> rows = new ArrayList<>();
        rows.add(Candidate.of("pretrained", suite.base()));
        suite.fineTuned().forEach((task, file) -> rows.add(Candidate.of("fine-tuned on " + task, file)));
        Path dense = work.resolve("task-arithmetic.onnx");
        var merge = dev.graft.Graft.merge().base(suite.base()).method(dev.graft.merge.MergeMethods.create(
                "task_arithmetic")).parameter("lambda", lambda).diagnostics(false);
        experts.forEach(e -> merge.model(e, 1.0));
        merge.writeTo(dense);
        String denseName = "task arithmetic (λ " + lambda + ", dense: the static part)";
        rows.add(Candidate.of(denseName, dense));
        Map<String, Path> files = new LinkedHashMap<>();
        Map<String, String> routing = new LinkedHashMap<>();
        for (int v = 0; v < variants.size(); v++) {
            Variant variant = variants.get(v);
            Path file = work.resolve("moe-" + v + ".onnx");
            long start = System.nanoTime();
            Map.Entry<String, Double> r = variant.write().apply(file);
            System.out.printf(Locale.ROOT, "%s: written in %.0f s; %s%n", variant.name(),
                    (System.nanoTime() - start) / 1e9, r.getKey());
            routing.put(variant.name(), !variant.routers() ? "- | -" : String.format(Locale.ROOT, "%.3f | %.3f",
                    r.getValue(), RoutingAccuracy.of(file, heldOut).values().stream()
                            .mapToDouble(Double::doubleValue).average().orElse(Double.NaN)));
            files.put(variant.name(), file);
            rows.add(Candidate.of(variant.name(), file));
        }
        List<Map<String, ModelRunner.Input>> batches = heldOut.get(0).batches();
        Map<String, ModelRunner.Input> batch = batches.get(batches.size() / 2);
        List<Path> timed = new ArrayList<>(experts);
        timed.add(dense);
        timed.addAll(files.values());
        double[] ms = latencies(timed, batch);
        double ensemble = 0;
        for (int e = 0; e < experts.size(); e++) {
            ensemble += ms[e];
        }
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("ensemble of the fine-tunes", String.format(Locale.ROOT, "| %s | %.2f MB | %.2f ms | | |",
                millions(experts.stream().mapToLong(MoeBenchmark::parameters).sum()),
                experts.stream().mapToLong(MoeBenchmark::bytes).sum() / 1e6, ensemble));
        facts.put(denseName, String.format(Locale.ROOT, "| %s | %.2f MB | %.2f ms | | |", millions(parameters(dense)),
                bytes(dense) / 1e6, ms[experts.size()]));
        int k = experts.size() + 1;
        for (Map.Entry<String, Path> f : files.entrySet()) {
            facts.put(f.getKey(), String.format(Locale.ROOT, "| %s | %.2f MB | %.2f ms | %s |",
                    millions(parameters(f.getValue())), bytes(f.getValue()) / 1e6, ms[k++], routing.get(f.getKey())));
        }
        EvaluationReport report = suite.test().run(rows);
        StringBuilder out = new StringBuilder(report.table()).append('\n')
                .append("| model | parameters | file | latency (one batch) | routing (fit samples) ")
                .append("| routing (test) |\n")
                .append("|---|---:|---:|---:|---:|---:|\n");
        facts.forEach((name, row) -> out.append("| ").append(name).append(' ').append(row).append('\n'));
        System.out.print(out);
        Files.writeString(work.resolve("moe.md"), out);
    }

    /**
     * The variant {@code spec} describes: {@code METHOD/ROUTER/ROUTED[/KEY=VALUE...]}, METHOD wemoe or mediator,
     * ROUTER fitted or prototypes, ROUTED mlp or all; keys passes, ridge, scale, density, share, confidence, lambda;
     * or {@code upcycle/GATES/FORM[/k=N]}, GATES fitted, hidden, cheap_embed or random (the fit data as each
     * expert's prompts), FORM standard or contrib; or {@code lora/GATES[/k=N]} (text only: the tasks' adapters).
     */
    private static Variant variant(String spec, Path base, List<Path> experts, List<Calibration> fit) {
        String[] p = spec.split("/");
        if (p.length >= 3 && p[0].equals("upcycle")) {
            return upcycled(spec, p, base, experts, fit);
        }
        if (p.length >= 2 && p[0].equals("lora")) {
            return loraExperts(spec, p, base, fit);
        }
        if (p.length < 3 || !Set.of("wemoe", "mediator").contains(p[0])
                || !Set.of("fitted", "prototypes").contains(p[1])) {
            throw new InvalidSettingException("moe.variants: '" + spec + "' is not METHOD/ROUTER/ROUTED[/KEY=VALUE...] "
                    + "with METHOD wemoe or mediator and ROUTER fitted or prototypes");
        }
        RouterSource source = p[1].equals("fitted") ? RouterSource.fitted(fit) : RouterSource.prototypes(fit);
        RoutedMerge moe = p[0].equals("mediator") ? RoutedMerge.mediator(base, experts) : RoutedMerge.wemoe(base,
                experts);
        moe.routed(p[2]);
        StringBuilder name = new StringBuilder(p[0].equals("mediator") ? "Mediator-style" : "WEMoE")
                .append(", ").append(p[1]).append(" routers, ").append(p[2].equals("all") ? "all changed layers"
                        : "MLPs").append(" routed");
        for (int k = 3; k < p.length; k++) {
            int equals = p[k].indexOf('=');
            String key = equals < 0 ? p[k] : p[k].substring(0, equals);
            double v;
            try {
                v = Double.parseDouble(p[k].substring(equals + 1));
            } catch (NumberFormatException e) {
                throw new InvalidSettingException("moe.variants: '" + p[k] + "' in '" + spec + "' is not KEY=NUMBER");
            }
            switch (key) {
                case "passes" -> moe.passes((int) v);
                case "ridge" -> source = source.ridge(v);
                case "scale" -> source = source.scale(v);
                case "density" -> moe.density(v);
                case "share" -> moe.routedShare(v);
                case "confidence" -> moe.confidence(v);
                case "lambda" -> moe.lambda(v);
                default -> throw new InvalidSettingException("moe.variants: unknown key '" + key + "' in '" + spec
                        + "' (known: passes, ridge, scale, density, share, confidence, lambda)");
            }
            name.append(", ").append(p[k]);
        }
        return Variant.of(name.toString(), moe.routers(source));
    }

    /**
     * {@code lora/GATES[/k=N]}: the text tasks' LoRA adapters ({@code recipes/text-tasks/models/TASK}) as experts of one
     * graph, gated per token.
     */
    private static Variant loraExperts(String spec, String[] p, Path base, List<Calibration> fit) {
        GateSource gates = gates(spec, p[1], fit);
        int k = expertsPerToken(spec, p, 2, 1);
        List<Path> adapters = TextTasks.NAMES.stream().map(t -> Path.of("recipes/text-tasks/models", t)).toList();
        return new Variant("LoRA experts, " + p[1] + " gates, top-" + k, file -> {
            LoraExperts mixture = LoraExperts.of(base, adapters);
            LoraExperts.Report r = mixture.gates(gates.gates(base, mixture.gateInputs(), adapters.size()))
                    .expertsPerToken(k).writeTo(file);
            return Map.entry(r.gates() + " gates over " + r.layers().size() + " layers", Double.NaN);
        }, false);
    }

    private static GateSource gates(String spec, String kind, List<Calibration> fit) {
        return switch (kind) {
            case "fitted" -> GateSource.fitted(fit);
            case "hidden" -> GateSource.hidden(fit, List.of());
            case "cheap_embed" -> GateSource.cheapEmbed(fit, List.of());
            case "random" -> GateSource.random(0);
            default -> throw new InvalidSettingException("moe.variants: gates '" + kind + "' in '" + spec
                    + "' are not fitted, hidden, cheap_embed or random");
        };
    }

    /** The {@code k=N} among {@code p}'s parts from {@code from} on, else {@code k}. */
    private static int expertsPerToken(String spec, String[] p, int from, int k) {
        for (int i = from; i < p.length; i++) {
            if (!p[i].matches("k=[0-9]+")) {
                throw new InvalidSettingException("moe.variants: '" + p[i] + "' in '" + spec + "' is not k=N");
            }
            k = Integer.parseInt(p[i].substring(2));
        }
        return k;
    }

    private static Variant upcycled(String spec, String[] p, Path base, List<Path> experts, List<Calibration> fit) {
        GateSource gates = gates(spec, p[1], fit);
        Upcycle.Form form = switch (p[2]) {
            case "standard" -> Upcycle.Form.STANDARD;
            case "contrib" -> Upcycle.Form.CONTRIB;
            default -> throw new InvalidSettingException("moe.variants: form '" + p[2] + "' in '" + spec
                    + "' is not standard or contrib");
        };
        int k = expertsPerToken(spec, p, 3, 2);
        return Variant.of("upcycled MoE, " + p[1] + " gates, top-" + k + ", " + p[2] + " ops",
                Upcycle.of(base, experts).gates(gates).expertsPerToken(k).form(form));
    }

    /**
     * Routing of inputs from a task no expert was fitted for: for each task, the variant {@code spec} built from the
     * other tasks' fine-tunes and data; the share of their test samples that its router takes as confident (largest
     * coefficient 1, with a confidence switch) against the share of the left-out task's, and the left-out task's
     * accuracy under it, under task arithmetic of the same fine-tunes and with the pretrained model. The tasks left
     * out in turn: {@code -Dmoe.oodTasks=a,b} (default all).
     */
    private static String outOfDistribution(TaskBenchmark.Suite suite, List<Calibration> heldOut, String spec,
                                            Path work) {
        List<String> names = new ArrayList<>(suite.fineTuned().keySet());
        StringBuilder out = new StringBuilder("| left-out task | confident (the other tasks' test samples) "
                + "| confident (the left-out task's) | left-out accuracy: routed | task arithmetic (λ 0.3) "
                + "| pretrained |\n|---|---:|---:|---:|---:|---:|\n");
        List<String> left = List.of(System.getProperty("moe.oodTasks", String.join(",", names)).split(","));
        for (int u = 0; u < names.size(); u++) {
            if (!left.contains(names.get(u))) {
                continue;
            }
            List<Path> experts = new ArrayList<>();
            List<Calibration> fit = new ArrayList<>();
            List<Calibration> seen = new ArrayList<>();
            for (int t = 0; t < names.size(); t++) {
                if (t != u) {
                    experts.add(suite.fineTuned().get(names.get(t)));
                    fit.add(suite.data().get(t));
                    seen.add(heldOut.get(t));
                }
            }
            Path routed = work.resolve("ood-" + u + ".onnx");
            variant(spec, suite.base(), experts, fit).write().apply(routed);
            Path dense = work.resolve("ood-ta-" + u + ".onnx");
            var merge = dev.graft.Graft.merge().base(suite.base()).method(dev.graft.merge.MergeMethods.create(
                    "task_arithmetic")).parameter("lambda", 0.3).diagnostics(false);
            experts.forEach(e -> merge.model(e, 1.0));
            merge.writeTo(dense);
            double inDistribution = 0;
            for (Calibration c : seen) {
                inDistribution += mean(RoutingAccuracy.confident(routed, c, 0.999)) / seen.size();
            }
            double outside = mean(RoutingAccuracy.confident(routed, heldOut.get(u), 0.999));
            dev.graft.eval.Task task = suite.test().tasks().get(u);
            out.append(String.format(Locale.ROOT, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f |%n", names.get(u),
                    inDistribution, outside, task.evaluate(routed), task.evaluate(dense), task.evaluate(suite.base())));
        }
        return out.toString();
    }

    private static double mean(Map<String, Double> values) {
        return values.values().stream().mapToDouble(Double::doubleValue).average().orElse(Double.NaN);
    }

    /** The digits tasks' second halves (the test split), as router inputs per task. */
    private static List<Calibration> heldOutDigits(Path folder) {
        DigitsTasks all = new DigitsTasks(folder);
        return all.split(all.size() / 2, all.size()).taskInputs();
    }

    private static long parameters(Path model) {
        try (OnnxModel m = OnnxModel.open(model)) {
            return m.initializers().stream().filter(w -> w.type().isFloatingPoint()).mapToLong(Weight::elementCount)
                    .sum(); // a sparse expert's mask is not a parameter
        }
    }

    private static long bytes(Path model) {
        try {
            return Files.size(model);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String millions(long n) {
        return n < 1e6 ? String.format(Locale.ROOT, "%.1f k", n / 1e3) : String.format(Locale.ROOT, "%.1f M", n / 1e6);
    }

    /**
     * The median time of one run of each model on {@code batch}, in milliseconds: every session open at once, the
     * models run in turn, round after round (after a warm-up round), so that a slower moment of the machine falls on
     * all of them alike.
     */
    private static double[] latencies(List<Path> models, Map<String, ModelRunner.Input> batch) {
        List<ModelRunner> runners = new ArrayList<>();
        try {
            for (Path m : models) {
                runners.add(new ModelRunner(m, Threads.modelRuns()));
            }
            int rounds = 15;
            double[][] times = new double[models.size()][rounds];
            for (int round = -2; round < rounds; round++) {
                for (int m = 0; m < runners.size(); m++) {
                    ModelRunner r = runners.get(m);
                    long start = System.nanoTime();
                    r.run(batch, Set.of(r.outputNames().get(0)));
                    if (round >= 0) {
                        times[m][round] = (System.nanoTime() - start) / 1e6;
                    }
                }
            }
            double[] median = new double[models.size()];
            for (int m = 0; m < median.length; m++) {
                Arrays.sort(times[m]);
                median[m] = times[m][rounds / 2];
            }
            return median;
        } finally {
            runners.forEach(ModelRunner::close);
        }
    }
}
