package dev.graft.cli;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import dev.graft.align.Alignment;
import dev.graft.align.PermutationSpec;
import dev.graft.graph.ExpertRouting;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.index.LoraSlots;
import dev.graft.index.PackedProjection;
import dev.graft.index.TiedWeights;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.verify.ProbeOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code graft inspect MODEL}: every weight with dtype, shape, role, module and bytes; totals. With
 * {@code --groups}: the permutation groups and the axes that stay.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "List a model's weights: name, dtype, shape, role, layer, bytes; and totals. With --groups, "
                + "its permutation groups.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL", description = "an .onnx file")
    Path model;

    @Mixin
    ProbeDimsMixin probeDims;

    @Option(names = "--constants", description = "also list the tensors of Constant nodes and subgraphs")
    boolean constants;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    @Option(names = "--groups", description = "list the permutation groups (hidden dimensions that can be permuted "
            + "without changing the function) with their member axes, and the axes that cannot and why")
    boolean groups;

    @Option(names = "--permute-outputs", description = "with --groups: let groups reach graph outputs")
    boolean permuteOutputs;

    /** One row of the listing. */
    record Row(String name, String dtype, List<Long> shape, String role, String module, Integer layer, long bytes,
               String storage, String origin, String scope) {
    }

    /** The whole listing. */
    record Listing(String file, long irVersion, Map<String, Long> opsets, String producer, int weights,
                   long parameters, long quantizedBytes, long bytes, Map<String, Long> bytesByDtype,
                   int constantTensors, List<Row> rows, List<TiedWeights.Tie> ties, List<PackedProjection> packed,
                   List<LoraSlots.Slot> loraSlots, ExpertRouting.Routed routed) {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (groups) {
            PermutationSpec s = Alignment.spec(model, permuteOutputs, probeDims.apply(ProbeOptions.defaults()));
            if (json) {
                Output.json(out, Map.of("groups", s.groups(), "fixed", s.fixed()));
            } else {
                printGroups(out, s);
            }
            return 0;
        }
        try (OnnxModel m = OnnxModel.open(model)) {
            GraphIndex index = GraphIndex.of(m);
            List<Row> rows = new ArrayList<>();
            long params = 0;
            long quantized = 0;
            long bytes = 0;
            int constantTensors = 0;
            Map<String, Long> byDtype = new TreeMap<>();
            for (IndexedWeight iw : index.weights()) {
                Weight w = iw.weight();
                boolean initializer = w.origin() == Weight.Origin.INITIALIZER && w.scope().isEmpty();
                if (!initializer) {
                    constantTensors++;
                }
                if (!initializer && !constants) {
                    continue;
                }
                if (iw.role() == WeightRole.QUANTIZED) {
                    quantized += Math.max(0, w.byteLength());
                } else if (w.type().isFloatingPoint() && !iw.role().quantized() && iw.role() != WeightRole.LORA_SLOT) {
                    params += w.elementCount(); // a quantized weight's scales and LoRA slots are not parameters
                }
                bytes += Math.max(0, w.byteLength());
                byDtype.merge(w.type().displayName(), Math.max(0, w.byteLength()), Long::sum);
                rows.add(new Row(w.name(), w.type().displayName(), Arrays.stream(w.shape()).boxed().toList(),
                        iw.role().label(), iw.modulePath(), iw.layer().isPresent() ? iw.layer().getAsInt() : null,
                        w.byteLength(), w.storage().name().toLowerCase(java.util.Locale.ROOT),
                        w.origin().name().toLowerCase(java.util.Locale.ROOT), w.scope()));
            }
            ModelProto p = m.proto();
            Map<String, Long> opsets = new TreeMap<>();
            for (OperatorSetIdProto o : p.getOpsetImportList()) {
                opsets.put(o.getDomain().isEmpty() ? "ai.onnx" : o.getDomain(), o.getVersion());
            }
            Listing l = new Listing(model.toString(), p.getIrVersion(), opsets,
                    (p.getProducerName() + " " + p.getProducerVersion()).trim(), rows.size(), params, quantized, bytes,
                    byDtype, constantTensors, rows, TiedWeights.of(m, index), PackedProjection.find(m, index),
                    List.copyOf(LoraSlots.of(m).byModule().values()), ExpertRouting.find(m));
            if (json) {
                Output.json(out, l);
            } else {
                print(out, l);
            }
        }
        return 0;
    }

    private void printGroups(PrintWriter out, PermutationSpec s) {
        out.printf("%s: %d permutation groups%n", model, s.groups().size());
        for (PermutationSpec.Group g : s.groups()) {
            out.printf("%-44s %6d%s%n", g.name(), g.size(),
                    g.nested() ? "  within each unit of " + s.groups().get(g.parent()).name() : "");
            for (PermutationSpec.Member m : g.members()) {
                out.println("    " + m);
            }
        }
        Map<String, List<String>> byReason = new TreeMap<>();
        for (PermutationSpec.FixedAxis f : s.fixed()) {
            byReason.computeIfAbsent(f.reason(), k -> new ArrayList<>()).add(f.weight() + "[" + f.axis() + "]");
        }
        out.printf("%d weight axes stay as they are:%n", s.fixed().size());
        byReason.forEach((reason, axes) -> out.printf("  %s: %d axes, e.g. %s%n", reason, axes.size(),
                String.join(", ", axes.subList(0, Math.min(3, axes.size())))));
    }

    private void print(PrintWriter out, Listing l) {
        out.printf("%s: IR %d, opsets %s, producer '%s'%n", l.file(), l.irVersion(), l.opsets(), l.producer());
        int nameWidth = Math.min(60, l.rows().stream().mapToInt(r -> r.name().length()).max().orElse(4));
        String fmt = "%-" + nameWidth + "s  %-8s  %-14s  %-24s  %5s  %-44s  %10s%n";
        out.printf(fmt, "NAME", "DTYPE", "SHAPE", "ROLE", "LAYER", "MODULE", "BYTES");
        for (Row r : l.rows()) {
            String shape = r.shape().toString().replace(" ", "");
            out.printf(fmt, r.name(), r.dtype(), shape, r.role(), r.layer() == null ? "-" : r.layer(), r.module(),
                    Output.bytes(r.bytes()));
        }
        out.printf("%d weights, %,d floating-point parameters, %s%s", l.weights(), l.parameters(),
                l.quantizedBytes() == 0 ? "" : Output.bytes(l.quantizedBytes()) + " of quantized weights' codes, ",
                Output.bytes(l.bytes()));
        StringBuilder sb = new StringBuilder();
        l.bytesByDtype().forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(' ')
                .append(Output.bytes(v)));
        out.printf(" (%s)%n", sb);
        for (PackedProjection p : l.packed()) {
            out.printf("packed: %s holds %s%n", p.weight(), p.parts().stream()
                    .map(part -> part.module() + " [" + part.offset() + "," + (part.offset() + part.size()) + ")")
                    .collect(java.util.stream.Collectors.joining(", ")));
        }
        for (TiedWeights.Tie t : l.ties()) {
            out.printf("tied: %s holds %s%s (merged as one tensor)%n", t.copy(), t.table(),
                    t.transposed() ? ", transposed" : "");
        }
        if (!l.loraSlots().isEmpty()) {
            LoraSlots.Slot first = l.loraSlots().get(0);
            out.printf("LoRA input slots on %d modules, fed an adapter per run (%s, %s, ...): %s%n",
                    l.loraSlots().size(), first.inputA(), first.inputB(), l.loraSlots().stream()
                            .map(LoraSlots.Slot::module).collect(java.util.stream.Collectors.joining(", ")));
        }
        if (!l.routed().gates().isEmpty()) {
            out.printf("upcycled mixture of experts (top-k gates per token): %d layers, %s experts; gates: %s%n",
                    l.routed().gates().size(), new java.util.TreeSet<>(l.routed().gates().values()),
                    String.join(", ", l.routed().gates().keySet()));
        }
        if (!l.routed().loraExperts().isEmpty()) {
            out.printf("mixture of LoRA experts (top-k gates per token): %d layers, %s experts%n",
                    l.routed().loraExperts().size(), new java.util.TreeSet<>(l.routed().loraExperts().values()));
        }
        if (!l.routed().routers().isEmpty() || !l.routed().experts().isEmpty()) {
            out.printf("routed layers (weight-ensembling experts, W0 + sum_t r_t(x)·tau_t): %d weights, %s experts; "
                    + "%d routers: %s%n", l.routed().experts().size(), new java.util.TreeSet<>(l.routed().experts()
                    .values()), l.routed().routers().size(), String.join(", ", l.routed().routers().keySet()));
            l.routed().experts().forEach((w, n) -> out.printf("  routed: %s (%d experts, %s)%n", w, n,
                    l.routed().sparse().contains(w) ? "sparse: " + ExpertRouting.deltas(w) + "_mask and _values"
                            : ExpertRouting.deltas(w)));
        }
        if (!constants && l.constantTensors() > 0) {
            out.printf("%d more tensors in Constant nodes or subgraphs (list them with --constants)%n",
                    l.constantTensors());
        }
    }
}
