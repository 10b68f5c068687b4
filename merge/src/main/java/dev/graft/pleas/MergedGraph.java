package dev.graft.pleas;

import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.GraftException;
import dev.graft.align.Permutations;
import dev.graft.data.ValueShapes;
import dev.graft.exec.Execution;
import dev.graft.exec.RewritePlan;
import dev.graft.exec.Rewriter;
import dev.graft.graph.AffineLayer;
import dev.graft.graph.GraphEdit;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WrittenFiles;
import dev.graft.verify.ProbeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a PLeaS merge: A's graph, with the layers' weights replaced by the merged ones (new shapes), every other
 * initializer of the merged part set to the merged-space average of A's and B's (the permutation-aligned average;
 * such weights sit only on groups merged whole), the part A keeps apart unchanged, and B's kept part added under
 * suffixed names with its outputs. Norms folded into their layers ({@link AffineLayer.Norm}) are dropped, with their
 * parameters. {@code value_info} is dropped (the widths changed). The written model is then
 * run in ONNX Runtime and every layer's input and output widths are checked against the merge (the plan's check);
 * on any failure the files are removed. Layer tensors come lazily from {@link LayerFits}.
 */
final class MergedGraph {
    private MergedGraph() {
    }

    static WrittenFiles write(OnnxModel ma, OnnxModel mb, MergedUnits units, Split split,
                              Map<String, OutputTensor> layerTensors, List<MergedLayer> layers, Path target,
                              Map<String, String> parameters, Execution execution, ProbeOptions probes) {
        Set<String> folded = new HashSet<>();
        for (MergedLayer l : layers) {
            if (l.a().norm() != null) {
                folded.addAll(l.a().norm().parameters());
            }
        }
        List<OutputTensor> tensors = new ArrayList<>();
        for (Weight w : ma.initializers()) {
            OutputTensor t = layerTensors.get(w.name());
            if (t == null && !folded.contains(w.name())) {
                t = split.weights().contains(w.name()) ? OutputTensor.copyOf(w) : average(w, mb, units);
            }
            if (t != null) {
                tensors.add(t);
            }
        }
        for (String name : split.weights()) {
            OutputTensor t = layerTensors.get(name + Split.SUFFIX);
            if (t == null && !folded.contains(name)) {
                t = OutputTensor.copyOf(mb.weight(name).orElseThrow()).named(name + Split.SUFFIX);
            }
            if (t != null) {
                tensors.add(t);
            }
        }
        GraphEdit template = GraphEdit.of(ma).clearValueInfo();
        if (!split.isNone()) {
            template.addCopy(split.branchB(), split.weights(), Split.SUFFIX);
            for (ValueInfoProto output : mb.proto().getGraph().getOutputList()) {
                if (split.producesInB(output.getName())) {
                    template.addOutput(output, output.getName() + Split.SUFFIX);
                }
            }
        }
        for (MergedLayer l : layers) {
            if (l.a().norm() != null) {
                template.foldNorm(l.a(), "");
                if (l.entry()) {
                    template.foldNorm(l.b(), Split.SUFFIX);
                }
            }
        }
        RewritePlan.Builder plan = RewritePlan.of("pleas", template.build()).input(ma).input(mb)
                .parameters(parameters).check(written -> checkWidths(written, layers, probes));
        for (OutputTensor t : tensors) {
            if (t.isCopy() || t.verbatim()) {
                plan.passThrough(t);
            } else if (layerTensors.containsKey(t.name())) {
                plan.compute(t, t.byteLength()); // the layer's fit is held by LayerFits, under its own budget
            } else {
                plan.compute(t, t.byteLength() * 3); // an average reads both models' tensors
            }
        }
        return Rewriter.write(plan.build(), target, execution).files();
    }

    /** A body initializer: the average of A's and B's after B's permutation, or A's if both are equal. */
    private static OutputTensor average(Weight wa, OnnxModel mb, MergedUnits units) {
        String name = wa.name();
        Weight wb = mb.weight(name).orElseThrow(() -> new GraftException(mb.file(), name,
                "A has this initializer and B has not; PLeaS merges models of one architecture"));
        long[] shape = wa.shape();
        if (!Arrays.equals(shape, wb.shape())) {
            throw new GraftException(mb.file(), name, "expected shape " + Arrays.toString(shape) + " as in A, got "
                    + Arrays.toString(wb.shape()) + " (models with different heads: keep their last layers apart)");
        }
        if (!wa.type().isFloatingPoint()) {
            if (!wa.bytes().equals(wb.bytes())) {
                throw new GraftException(mb.file(), name, "is not floating point and differs from A's, so it cannot "
                        + "be averaged");
            }
            return OutputTensor.copyOf(wa);
        }
        int[][] maps = new int[shape.length][];
        for (int k = 0; k < shape.length; k++) {
            if (units.permuted(name, k)) {
                UnitMap m = units.axis(name, k, (int) shape[k]);
                if (m.width() != shape[k] || !Arrays.equals(m.a(), Permutations.identity((int) shape[k]))) {
                    throw new IllegalStateException("weight '" + name + "' axis " + k + " is on a widened group");
                }
                maps[k] = m.b();
            }
        }
        return OutputTensor.like(wa, wa.type(), () -> {
            float[] x = wa.toFloats();
            float[] y = Permutations.gather(wb.toFloats(), shape, maps);
            for (int i = 0; i < x.length; i++) {
                x[i] = 0.5f * (x[i] + y[i]);
            }
            return x;
        });
    }

    /** Runs the written model and checks each merged layer's widths (the shapes along every edge touched). */
    private static void checkWidths(Path model, List<MergedLayer> layers, ProbeOptions probes) {
        Map<String, ValueShapes.Shape> shapes = ValueShapes.of(model, probes);
        for (MergedLayer l : layers) {
            for (MergedLayer.Width w : l.widths()) {
                ValueShapes.Shape s = shapes.get(w.value());
                if (s == null) {
                    continue;
                }
                long[] dims = s.shape();
                int axis = w.axis() < 0 ? dims.length - 1 : w.axis();
                if (axis >= dims.length || dims[axis] != w.size()) {
                    throw new GraftException(model, l.a().weight(), "value '" + w.value() + "' has shape "
                            + Arrays.toString(dims) + " in ONNX Runtime; the merge expects " + w.size()
                            + " along axis " + axis + " (a shape constant the merge does not update?)");
                }
            }
        }
    }
}
