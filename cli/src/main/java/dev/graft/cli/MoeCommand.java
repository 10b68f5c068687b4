package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.adapters.LoraExperts;
import dev.graft.data.Calibration;
import dev.graft.moe.GateSource;
import dev.graft.moe.RoutedMerge;
import dev.graft.moe.RouterSource;
import dev.graft.moe.Upcycle;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft moe BASE EXPERT... -o OUT}: a routed merge (WEMoE or Mediator-style) as one ONNX graph, with routers
 * fitted to each expert's task samples, from prototypes, from a folder, or constant; or ({@code --method upcycle})
 * a mixture of experts upcycled from the fine-tunes' MLPs with top-k gates per token ({@link Upcycle}). The same
 * merges as {@code graft merge} of a {@code merge_method: wemoe}, {@code mediator} or {@code upcycle} recipe.
 */
@Command(name = "moe", mixinStandardHelpOptions = true,
        description = "Write a routed merge: each routed dense layer computes R + sum_t c_t(x)·(W_t - R) with "
                + "coefficients from a router; the other weights are a static merge (task arithmetic, or --static). "
                + "Presets: wemoe (R the base, a router per layer) and mediator (R the average, sparse residual "
                + "experts, one task classifier). Routers: fitted to each expert's task samples "
                + "(--calibration, one per expert), prototypes, constant, or a folder of .npy routers. "
                + "--method upcycle instead writes a mixture of experts: attention and norms from BASE, each "
                + "transformer layer's MLP an expert per fine-tune, a top-k gate per token from each expert's prompts "
                + "(--calibration as prompts; --gates fitted, hidden, cheap_embed or random). --method lora writes a "
                + "mixture of LoRA experts: each EXPERT a PEFT adapter folder of BASE, the adapters' updates on every "
                + "layer they adapt weighted per token by a top-k gate (k 1 by default).")
final class MoeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--method", defaultValue = "wemoe", paramLabel = "wemoe|mediator|upcycle|lora",
            description = "the preset: wemoe (default: task vectors, a router per layer, all selected layers routed), "
                    + "mediator (the average as the dense expert, residual experts trimmed to 30 %% and stored "
                    + "sparse, one task classifier with a confidence switch), or upcycle (a mixture of the "
                    + "fine-tunes' MLPs on the base's attention, gated per token), or lora (LoRA adapters as experts, "
                    + "gated per token)")
    String method;

    @Option(names = "--gates", paramLabel = "fitted|hidden|cheap_embed|random", description = "upcycle and lora: the gates, "
            + "fitted to the base's hidden states at each token of each expert's prompts (default), mergekit's hidden "
            + "(the mean hidden state of each expert's prompts), cheap_embed (their token embeddings), or random")
    String gates;

    @Option(names = "--experts-per-token", paramLabel = "K", description = "upcycle and lora: experts each token "
            + "goes to (upcycle 2, lora 1)")
    Integer expertsPerToken;

    @Option(names = "--form", paramLabel = "standard|contrib", description = "upcycle: standard ONNX ops (default; "
            + "every expert runs) or ONNX Runtime's com.microsoft.MoE (the chosen experts run; GELU approximated)")
    String form;

    @Option(names = "--negative", paramLabel = "FILE", description = "upcycle and lora: one per expert, in order: prompts its "
            + "gate should not favour")
    List<Path> negatives;

    @Option(names = "--seed", defaultValue = "0", description = "upcycle and lora: the seed of random gates")
    long seed;

    @Parameters(index = "0", paramLabel = "BASE", description = "the model the experts were fine-tuned from")
    Path base;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "EXPERT", description = "fine-tunes of BASE (--method "
            + "lora: PEFT adapter folders)")
    List<Path> experts;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--router", defaultValue = "fitted", paramLabel = "fitted|prototypes|constant|FOLDER",
            description = "where routers come from (default ${DEFAULT-VALUE}); a folder holds GROUP.fc2.weight.npy ...")
    String router;

    @Option(names = "--calibration", paramLabel = "FILE", description = "one per expert, in order: its task samples (upcycle: its prompts) "
            + "(a .npy array or a text file, one sample per line); needed by fitted and prototype routers")
    List<Path> calibrations;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "128", description = "task samples per expert at most (text)")
    int samples;

    @Option(names = "--routed", defaultValue = "mlp", paramLabel = "mlp|all|REGEX",
            description = "routed dense layers: outside attention (default), all, or module paths matching REGEX")
    String routed;

    @Option(names = "--lambda", description = "task arithmetic's λ for the other weights (and constant routers; "
            + "wemoe 0.3, mediator 1/experts: the average)")
    Double lambda;

    @Option(names = "--density", description = "share of each expert's update kept, stored sparse below 1 "
            + "(wemoe 1, mediator 0.3)")
    Double density;

    @Option(names = "--routed-share", description = "share of layer groups routed, most conflicting first "
            + "(default 1)")
    Double routedShare;

    @Option(names = "--confidence", description = "a sample whose top task posterior reaches it takes that expert "
            + "alone (wemoe 0: never, mediator 0.9)")
    Double confidence;

    @Option(names = "--task-level", negatable = true, description = "one router for all routed layers (mediator) "
            + "or one per layer group (wemoe)")
    Boolean taskLevel;

    @Option(names = "--reference", paramLabel = "base|static", description = "the experts' updates start from the "
            + "base (wemoe) or from the static merge (mediator)")
    String reference;

    @Option(names = "--static", paramLabel = "MODEL", description = "take the other weights from this merge instead")
    Path staticMerge;

    @Option(names = "--passes", defaultValue = "2", description = "router fits, each on the routed model of the one "
            + "before (default ${DEFAULT-VALUE})")
    int passes;

    @Option(names = "--router-scale", defaultValue = "1", description = "coefficients = scale × task posteriors")
    double scale;

    @Option(names = "--router-ridge", description = "L2 pull of the fitted routers' logistic regression")
    Double ridge;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        if (method.equals("upcycle") || method.equals("lora")) {
            return gated();
        }
        if (gates != null || expertsPerToken != null || form != null || negatives != null) {
            throw new InvalidSettingException("--gates, --experts-per-token, --form and --negative go with --method "
                    + "upcycle or lora");
        }
        boolean fitted = router.equals("fitted") || router.equals("prototypes");
        List<Calibration> data = new ArrayList<>();
        if (fitted) {
            if (calibrations == null || calibrations.size() != experts.size()) {
                throw new InvalidSettingException("--router " + router + " needs one --calibration per expert (its "
                        + "task samples): " + experts.size() + " experts, " + (calibrations == null ? 0
                        : calibrations.size()) + " calibrations");
            }
            for (int i = 0; i < experts.size(); i++) {
                data.add(AlignCommand.calibration(calibrations.get(i), tokenizer, samples, experts.get(i)));
            }
        } else if (calibrations != null) {
            throw new InvalidSettingException("--calibration goes with --router fitted or prototypes");
        }
        RouterSource source = switch (router) {
            case "fitted" -> RouterSource.fitted(data);
            case "prototypes" -> RouterSource.prototypes(data);
            case "constant" -> RouterSource.constant();
            default -> {
                if (!Files.isDirectory(Path.of(router))) {
                    throw new InvalidSettingException("--router must be fitted, prototypes, constant or a folder of "
                            + ".npy routers; " + router + " is none of these");
                }
                yield RouterSource.file(Path.of(router));
            }
        };
        if (ridge != null) {
            source = source.ridge(ridge);
        }
        RoutedMerge moe = switch (method) {
            case "wemoe" -> RoutedMerge.wemoe(base, experts);
            case "mediator" -> RoutedMerge.mediator(base, experts);
            default -> throw new InvalidSettingException("--method must be wemoe or mediator, got '" + method + "'");
        };
        moe.routers(source.scale(scale)).routed(routed).passes(passes);
        if (lambda != null) {
            moe.lambda(lambda);
        }
        if (staticMerge != null) {
            moe.staticMerge(staticMerge);
        }
        if (density != null) {
            moe.density(density);
        }
        if (routedShare != null) {
            moe.routedShare(routedShare);
        }
        if (confidence != null) {
            moe.confidence(confidence);
        }
        if (taskLevel != null) {
            moe.taskLevel(taskLevel);
        }
        if (reference != null) {
            moe.reference(switch (reference) {
                case "base" -> RoutedMerge.Reference.BASE;
                case "static" -> RoutedMerge.Reference.STATIC;
                default -> throw new InvalidSettingException("--reference must be base or static, got '" + reference
                        + "'");
            });
        }
        RoutedMerge.Report r = moe.writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
        } else {
            print(out, r);
        }
        return 0;
    }

    /** {@code --method upcycle} or {@code lora}: a mixture with token gates. */
    private Integer gated() {
        if (lambda != null || density != null || routedShare != null || confidence != null || taskLevel != null
                || reference != null || staticMerge != null || ridge != null || !router.equals("fitted")
                || !routed.equals("mlp")) {
            throw new InvalidSettingException("--method " + method + " takes --gates, --experts-per-token, --form, "
                    + "--calibration and --negative; the router options go with wemoe and mediator");
        }
        String gateKind = gates == null ? "fitted" : gates;
        if (!java.util.Set.of("fitted", "hidden", "cheap_embed", "random").contains(gateKind)) {
            throw new InvalidSettingException("--gates must be fitted, hidden, cheap_embed or random, got '"
                    + gateKind + "'");
        }
        List<Calibration> prompts = prompts(calibrations, "--calibration", gateKind);
        if (negatives != null && gateKind.equals("fitted")) {
            throw new InvalidSettingException("--negative goes with --gates hidden or cheap_embed (fitted gates "
                    + "already tell each expert's prompts from the others')");
        }
        List<Calibration> negative = negatives == null ? List.of() : prompts(negatives, "--negative", gateKind);
        GateSource source = switch (gateKind) {
            case "fitted" -> GateSource.fitted(prompts);
            case "hidden" -> GateSource.hidden(prompts, negative);
            case "cheap_embed" -> GateSource.cheapEmbed(prompts, negative);
            case "random" -> GateSource.random(seed);
            default -> throw new InvalidSettingException("--gates must be fitted, hidden, cheap_embed or random, got '"
                    + gateKind + "'");
        };
        PrintWriter out = spec.commandLine().getOut();
        if (method.equals("lora")) {
            if (form != null) {
                throw new InvalidSettingException("--form goes with --method upcycle (LoRA experts are written in "
                        + "standard ops)");
            }
            LoraExperts mixture = LoraExperts.of(base, experts);
            LoraExperts.Report r = mixture.gates(source.gates(base, mixture.gateInputs(), experts.size()))
                    .expertsPerToken(expertsPerToken == null ? 1 : expertsPerToken).writeTo(output);
            if (json) {
                Output.json(out, r);
            } else {
                print(out, r, source.describe());
            }
            return 0;
        }
        Upcycle upcycle = Upcycle.of(base, experts).gates(source).expertsPerToken(expertsPerToken == null
                ? Math.min(2, experts.size()) : expertsPerToken).form(switch (form == null ? "standard" : form) {
                    case "standard" -> Upcycle.Form.STANDARD;
                    case "contrib" -> Upcycle.Form.CONTRIB;
                    default -> throw new InvalidSettingException("--form must be standard or contrib, got '" + form
                            + "'");
                });
        Upcycle.Report r = upcycle.writeTo(output);
        if (json) {
            Output.json(out, r);
        } else {
            print(out, r);
        }
        return 0;
    }

    /** One prompt set per expert from {@code files} (none for random gates). */
    private List<Calibration> prompts(List<Path> files, String option, String gateKind) {
        if (gateKind.equals("random")) {
            if (files != null && !files.isEmpty()) {
                throw new InvalidSettingException(option + " goes with --gates fitted, hidden or cheap_embed");
            }
            return List.of();
        }
        if (files == null || files.size() != experts.size()) {
            throw new InvalidSettingException("--gates " + gateKind + " needs one " + option + " per expert (its "
                    + "prompts): " + experts.size() + " experts, " + (files == null ? 0 : files.size()) + " given");
        }
        List<Calibration> out = new ArrayList<>();
        for (int i = 0; i < experts.size(); i++) {
            out.add(AlignCommand.calibration(files.get(i), tokenizer, samples, method.equals("lora") ? base
                    : experts.get(i)));
        }
        return out;
    }

    /** The report of an upcycled mixture: one line per layer (its MLP, activation, how alike its gates are). */
    static void print(PrintWriter out, Upcycle.Report r) {
        out.printf(Locale.ROOT, "upcycled mixture of %d experts, top-%d per token, gates %s, %s ops: %d layers, %s%n",
                r.experts(), r.expertsPerToken(), r.gates(), r.form().name().toLowerCase(Locale.ROOT),
                r.layers().size(), Output.bytes(r.bytes()));
        int width = Math.max(5, r.layers().stream().mapToInt(l -> l.name().length()).max().orElse(5));
        String fmt = "%-" + width + "s %7s %-10s %11s  %s%n";
        out.printf(fmt, "LAYER", "WEIGHTS", "ACTIVATION", "GATE COSINE", "GATE INPUT");
        for (Upcycle.LayerReport l : r.layers()) {
            out.printf(Locale.ROOT, fmt, l.name(), l.weights().size(), l.activation(),
                    String.format(Locale.ROOT, "%.3f", l.gateCosine()), l.input());
        }
        out.println("wrote " + r.target());
    }

    /** The report of a mixture of LoRA experts: one line per adapted layer (its gate's input, each expert's rank). */
    static void print(PrintWriter out, LoraExperts.Report r, String gates) {
        out.printf(Locale.ROOT, "mixture of %d LoRA experts, top-%d per token, gates %s: %d layers, %d gates, %s%n",
                r.experts(), r.expertsPerToken(), gates, r.layers().size(), r.gates(), Output.bytes(r.bytes()));
        int width = Math.max(6, r.layers().stream().mapToInt(l -> l.module().length()).max().orElse(6));
        String fmt = "%-" + width + "s %-16s  %s%n";
        out.printf(fmt, "MODULE", "RANKS", "GATE INPUT");
        for (LoraExperts.Layer l : r.layers()) {
            out.printf(Locale.ROOT, fmt, l.module(), l.ranks().toString(), l.gateInput());
        }
        out.println("wrote " + r.target());
    }

    /** The report: one line per router group (its router, conflict of the task vectors, routing accuracy). */
    static void print(PrintWriter out, RoutedMerge.Report r) {
        long routedGroups = r.groups().stream().filter(RoutedMerge.GroupReport::routed).count();
        out.printf(Locale.ROOT, "routed merge (%s) of %d experts, routers %s: %d of %d layer groups routed, %s%n",
                r.method(), r.experts(), r.routers(), routedGroups, r.groups().size(), Output.bytes(r.bytes()));
        int width = Math.max(5, r.groups().stream().mapToInt(g -> g.name().length()).max().orElse(5));
        String fmt = "%-" + width + "s %7s %-40s %9s %7s %8s  %s%n";
        out.printf(fmt, "GROUP", "WEIGHTS", "ROUTER", "CONFLICTS", "COSINE", "ROUTING", "ROUTER INPUT");
        for (RoutedMerge.GroupReport g : r.groups()) {
            out.printf(Locale.ROOT, fmt, g.name(), g.weights().size(), g.router(),
                    String.format(Locale.ROOT, "%.3f", g.signConflict()),
                    String.format(Locale.ROOT, "%.3f", g.cosine()),
                    Double.isNaN(g.routingAccuracy()) ? "-" : String.format(Locale.ROOT, "%.3f", g.routingAccuracy()),
                    g.routed() ? g.input() : "");
        }
        out.println("wrote " + r.target());
    }
}
