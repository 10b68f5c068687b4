package dev.graft.cli;

import dev.graft.InvalidSettingException;
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

/** {@code graft fuse A B -o OUT}: OTFusion of two models of one architecture whose hidden widths may differ. */
@Command(name = "fuse", mixinStandardHelpOptions = true,
        description = "Fuse two models of one architecture whose hidden widths may differ (OTFusion): group by "
                + "group, an optimal-transport plan between A's units and the target's from the distance of their "
                + "weights, the plans carried into the next layers' weights, then (1 - s)·A carried + s·target. "
                + "The result has the target's widths (B unless --into a).")
final class FuseCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "A", description = "one model")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "the other (the target by default)")
    Path b;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT")
    Path output;

    @Option(names = "--method", defaultValue = "ot", paramLabel = "ot", description = "ot (OTFusion; CLAFusion "
            + "for different depths is not built yet)")
    String method;

    @Option(names = "--into", defaultValue = "b", paramLabel = "a|b", description = "whose widths the result has "
            + "(default ${DEFAULT-VALUE})")
    String into;

    @Option(names = "--solver", defaultValue = "exact", paramLabel = "exact|sinkhorn", description = "exact optimal "
            + "transport (default) or entropic (Sinkhorn, log domain)")
    String solver;

    @Option(names = "--reg", description = "Sinkhorn's regulariser, relative to the largest cost (default 0.01)")
    Double regularization;

    @Option(names = "--weight", defaultValue = "0.5", description = "the target's share s (default ${DEFAULT-VALUE})")
    double weight;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Override
    public Integer call() {
        if (!method.equals("ot")) {
            throw new InvalidSettingException("--method must be ot (CLAFusion is not built yet), got '" + method + "'");
        }
        OtFusion fusion = OtFusion.of(a, b).weight(weight).solver(switch (solver) {
            case "exact" -> OtFusion.Solver.EXACT;
            case "sinkhorn" -> OtFusion.Solver.SINKHORN;
            default -> throw new InvalidSettingException("--solver must be exact or sinkhorn, got '" + solver + "'");
        });
        switch (into) {
            case "a" -> fusion.intoA();
            case "b" -> { }
            default -> throw new InvalidSettingException("--into must be a or b, got '" + into + "'");
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
        out.printf(Locale.ROOT, "OTFusion (%s plans) into %s's widths: %d groups%n",
                r.solver().name().toLowerCase(Locale.ROOT), r.targetModel(), r.groups().size());
        int width = Math.max(5, r.groups().stream().mapToInt(g -> g.name().length()).max().orElse(5));
        String fmt = "%-" + width + "s %7s %7s %8s %7s%n";
        out.printf(fmt, "GROUP", "FROM", "TO", "ENTROPY", "SHARP");
        for (OtFusion.GroupReport g : r.groups()) {
            out.printf(Locale.ROOT, fmt, g.name(), g.widthA(), g.widthTarget(),
                    String.format(Locale.ROOT, "%.3f", g.entropy()), String.format(Locale.ROOT, "%.2f", g.sharpShare()));
        }
        out.println("wrote " + output);
        return 0;
    }
}
