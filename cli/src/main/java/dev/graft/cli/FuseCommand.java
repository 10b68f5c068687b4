package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.align.ClaFusion;
import dev.graft.align.OtFusion;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code graft fuse A B -o OUT}: OTFusion of two models of one architecture whose hidden widths may differ, or
 * ({@code --method cla}) CLAFusion of two MLPs whose depths differ too.
 */
@Command(name = "fuse", mixinStandardHelpOptions = true,
        description = "Fuse two models of one architecture whose hidden widths may differ (OTFusion): group by "
                + "group, an optimal-transport plan between A's units and the target's from the distance of their "
                + "weights (or activations), attention heads as blocks, the plans carried into the next layers' "
                + "weights, then (1 - s)·A carried + s·target. The result has the target's widths (B unless --into "
                + "a). --method cla fuses models of different depths (CLAFusion): layers aligned by CKA on "
                + "--calibration, the depths balanced (MLPs: identity layers; residual networks and transformers: "
                + "identity blocks in the deeper depth, or the deeper model's layers merged into the shallower "
                + "depth), then OTFusion.")
final class FuseCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "A", description = "one model")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "the other (the target by default)")
    Path b;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--method", defaultValue = "ot", paramLabel = "ot|cla", description = "ot (OTFusion, default) "
            + "or cla (CLAFusion: different depths; needs --calibration unless --layer-cost weights)")
    String method;

    @Option(names = "--calibration", paramLabel = "FILE", description = "the data the layers are aligned on (cla), "
            + "and of --cost activations and --marginals activations (.npy, or text with --tokenizer)")
    Path calibration;

    @Option(names = "--cost", defaultValue = "weights", paramLabel = "weights|activations", description = "the "
            + "ground cost, from the units' weights (default) or their activations on --calibration")
    String cost;

    @Option(names = "--distance", defaultValue = "euclidean", paramLabel = "euclidean|cosine", description = "the "
            + "ground cost between two units (default ${DEFAULT-VALUE})")
    String distance;

    @Option(names = "--marginals", defaultValue = "uniform", paramLabel = "uniform|activations", description = "ot: "
            + "each unit's mass, uniform (default) or its mean absolute activation on --calibration")
    String marginals;

    @Option(names = "--tokenizer", paramLabel = "TOKENIZER.json", description = "Hugging Face tokenizer for text")
    Path tokenizer;

    @Option(names = "--samples", defaultValue = "256", description = "calibration samples at most")
    int samples;

    @Option(names = "--into", defaultValue = "b", paramLabel = "a|b", description = "whose widths the result has "
            + "(default ${DEFAULT-VALUE})")
    String into;

    @Option(names = "--solver", defaultValue = "exact", paramLabel = "exact|sinkhorn|none", description = "exact "
            + "optimal transport (default), entropic (Sinkhorn, log domain), or none (unit i with unit i: the naive "
            + "average, a baseline)")
    String solver;

    @Option(names = "--reg", description = "Sinkhorn's regulariser, relative to the largest cost (default 0.01)")
    Double regularization;

    @Option(names = "--weight", defaultValue = "0.5", description = "the target's share s (default ${DEFAULT-VALUE})")
    double weight;

    @Option(names = "--depth", paramLabel = "deeper|shallower", description = "cla on residual networks: the fused "
            + "model's depth, the deeper model's (default: identity blocks where the shallower has no aligned layer) "
            + "or the shallower's (the deeper model's unaligned layers merged in, or left out: --unaligned)")
    String depth;

    @Option(names = "--unaligned", paramLabel = "merge|drop", description = "cla --depth shallower: the deeper "
            + "model's layers no layer is aligned to are merged into the aligned layer before them (default: units "
            + "matched, averaged) or left out")
    String unaligned;

    @Option(names = "--layers", split = ",", paramLabel = "L,L,...", description = "cla on residual networks: the "
            + "deeper model's layer (0-based) for each layer of the shallower one, instead of the CKA alignment")
    java.util.List<Integer> layers;

    @Option(names = "--layer-cost", defaultValue = "cka", paramLabel = "cka|weights", description = "cla on "
            + "residual networks: how layers are compared, by linear CKA on --calibration (default) or by the "
            + "transport cost of their weights")
    String layerCost;

    @Option(names = "--permute-outputs", description = "let groups reach graph outputs, so that the residual "
            + "stream of encoders trained apart is aligned too (outputs in the target's coordinates; for embeddings, "
            + "not class logits)")
    boolean permuteOutputs;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        if (!method.equals("ot") && !method.equals("cla")) {
            throw new InvalidSettingException("--method must be ot or cla, got '" + method + "'");
        }
        if (method.equals("cla")) {
            return cla();
        }
        if (!cost.equals("weights") && !cost.equals("activations")) {
            throw new InvalidSettingException("--cost must be weights or activations, got '" + cost + "'");
        }
        if (!marginals.equals("uniform") && !marginals.equals("activations")) {
            throw new InvalidSettingException("--marginals must be uniform or activations, got '" + marginals + "'");
        }
        boolean data = cost.equals("activations") || marginals.equals("activations");
        if (data != (calibration != null)) {
            throw new InvalidSettingException(calibration == null ? "--cost activations and --marginals activations "
                    + "need --calibration" : "--calibration goes with --method cla, --cost activations or "
                    + "--marginals activations");
        }
        if (depth != null || layers != null || !layerCost.equals("cka") || unaligned != null) {
            throw new InvalidSettingException("--depth, --layers, --layer-cost and --unaligned go with --method cla");
        }
        OtFusion fusion = OtFusion.of(a, b).weight(weight).permuteOutputs(permuteOutputs).solver(solver());
        switch (into) {
            case "a" -> fusion.intoA();
            case "b" -> { }
            default -> throw new InvalidSettingException("--into must be a or b, got '" + into + "'");
        }
        fusion.distance(distance());
        if (calibration != null) {
            dev.graft.data.Calibration loaded = AlignCommand.calibration(calibration, tokenizer, samples, a);
            if (cost.equals("activations")) {
                fusion.activations(loaded);
            }
            if (marginals.equals("activations")) {
                fusion.activationMass(loaded);
            }
        }
        if (regularization != null) {
            if (!solver.equals("sinkhorn")) {
                throw new InvalidSettingException("--reg goes with --solver sinkhorn");
            }
            fusion.regularization(regularization);
        }
        OtFusion.Report r = fusion.writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        print(out, r);
        return 0;
    }

    private Integer cla() {
        if (calibration == null && layerCost.equals("cka")) {
            throw new InvalidSettingException("--method cla needs --calibration: the data the layers are aligned on "
                    + "(or --layer-cost weights)");
        }
        if (!into.equals("b") || regularization != null || !marginals.equals("uniform")) {
            throw new InvalidSettingException("--method cla fuses with uniform marginals, in the depth --depth says; "
                    + "--into, --reg and --marginals go with --method ot");
        }
        if (!cost.equals("weights") && !cost.equals("activations")) {
            throw new InvalidSettingException("--cost must be weights or activations, got '" + cost + "'");
        }
        ClaFusion.Depth d = switch (depth == null ? "deeper" : depth) {
            case "deeper" -> ClaFusion.Depth.DEEPER;
            case "shallower" -> ClaFusion.Depth.SHALLOWER;
            default -> throw new InvalidSettingException("--depth must be deeper or shallower, got '" + depth + "'");
        };
        ClaFusion fusion = ClaFusion.of(a, b, calibration == null ? null
                : AlignCommand.calibration(calibration, tokenizer, samples, a));
        if (layers != null) {
            fusion.layers(layers);
        }
        fusion.layerCost(switch (layerCost) {
            case "cka" -> ClaFusion.LayerCost.CKA;
            case "weights" -> ClaFusion.LayerCost.WEIGHTS;
            default -> throw new InvalidSettingException("--layer-cost must be cka or weights, got '" + layerCost
                    + "'");
        });
        if (unaligned != null) {
            if (d != ClaFusion.Depth.SHALLOWER || !unaligned.equals("merge") && !unaligned.equals("drop")) {
                throw new InvalidSettingException("--unaligned takes merge or drop, with --depth shallower");
            }
            fusion.mergeLayers(unaligned.equals("merge"));
        }
        ClaFusion.Report r = fusion.depth(d).activationCost(cost.equals("activations")).distance(distance()).permuteOutputs(permuteOutputs).weight(weight).solver(solver())
                .writeTo(output);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Output.json(out, r);
            return 0;
        }
        out.printf(Locale.ROOT, "CLAFusion in %s's depth: the shallower model's layers aligned to %s "
                + "(0-based, %s)%n", r.targetModel(), r.alignment(), layers != null ? "as given"
                : layerCost.equals("cka") ? "by CKA" : "by weights");
        out.println((layerCost.equals("cka") ? "linear CKA" : "minus the transport cost of the weights")
                + ", the shallower model's layers (rows) by the deeper one's (columns), * aligned:");
        for (int i = 0; i < r.similarity().length; i++) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%3d", i));
            for (int j = 0; j < r.similarity()[i].length; j++) {
                row.append(String.format(Locale.ROOT, " %5.2f%s", r.similarity()[i][j], r.alignment().get(i) == j ? "*"
                        : " "));
            }
            out.println(row);
        }
        print(out, r.fusion());
        return 0;
    }

    private OtFusion.Distance distance() {
        return switch (distance) {
            case "euclidean" -> OtFusion.Distance.EUCLIDEAN;
            case "cosine" -> OtFusion.Distance.COSINE;
            default -> throw new InvalidSettingException("--distance must be euclidean or cosine, got '" + distance
                    + "'");
        };
    }

    private OtFusion.Solver solver() {
        return switch (solver) {
            case "exact" -> OtFusion.Solver.EXACT;
            case "sinkhorn" -> OtFusion.Solver.SINKHORN;
            case "none" -> OtFusion.Solver.NONE;
            default -> throw new InvalidSettingException("--solver must be exact, sinkhorn or none, got '" + solver
                    + "'");
        };
    }

    private void print(PrintWriter out, OtFusion.Report r) {
        out.printf(Locale.ROOT, "OTFusion (%s plans) into %s's widths: %d groups%n",
                r.solver().name().toLowerCase(Locale.ROOT), r.targetModel(), r.groups().size());
        int width = Math.max(5, r.groups().stream().mapToInt(g -> g.name().length()).max().orElse(5));
        String fmt = "%-" + width + "s %7s %7s %8s %7s %9s %11s%n";
        out.printf(fmt, "GROUP", "FROM", "TO", "ENTROPY", "SHARP", "COST", "MASS");
        for (OtFusion.GroupReport g : r.groups()) {
            double[] mass = g.massRange();
            out.printf(Locale.ROOT, fmt, g.name(), g.widthA(), g.widthTarget(),
                    String.format(Locale.ROOT, "%.3f", g.entropy()), String.format(Locale.ROOT, "%.2f", g.sharpShare()),
                    String.format(Locale.ROOT, "%.4g", g.cost()),
                    String.format(Locale.ROOT, "%.2f-%.2f", mass[0], mass[1]));
        }
        out.println("wrote " + output);
    }
}
