package dev.graft.align;

import dev.graft.InvalidSettingException;
import dev.graft.data.ValueShapes;
import dev.graft.onnx.OnnxModel;
import dev.graft.plan.ModelAligner;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Aligns a model to a reference of the same architecture: infers the model's {@link PermutationSpec} from its
 * graph, finds the permutations that bring its units into the reference's order, and writes the permuted model
 * (the same function, unless outputs are permutable). Matching by weights ({@link WeightMatching}, the
 * default) or by activations on calibration data ({@link ActivationMatching}). Used alone ({@link #align}) or as a merge's first step ({@code Graft.merge().align(...)}).
 *
 * <pre>{@code
 * Alignment.Report r = Alignment.weightMatching().seed(0).align(b, a, alignedB).report();
 * }</pre>
 */
public final class Alignment implements ModelAligner {
    /** How units are matched. */
    public enum Method {
        /** Git Re-Basin weight matching: no data needed. */
        WEIGHT,
        /** Correlation of activations on calibration data ({@link ActivationMatching}). */
        ACTIVATION
    }

    /** One group's outcome: how many units moved, and the matching objective at the identity and after. */
    public record GroupReport(String group, int size, String parent, int moved, double identity, double matched) {
    }

    /** What an alignment did. */
    public record Report(String model, String reference, String method, long seed, boolean outputsPermuted,
                         int passes, double seconds, List<GroupReport> groups, int fixedAxes) {
    }

    /** A finished alignment: its report, its permutations (of the model's groups), and the file written if any. */
    public record Result(Report report, Permutations permutations, Path file) {
    }

    private final Method method;
    private final dev.graft.data.Calibration calibration;
    private long seed;
    private int maxPasses = 100;
    private boolean permuteOutputs;
    private boolean keepKeyBiases;
    private ProbeOptions probes = ProbeOptions.defaults();

    private Alignment(Method method, dev.graft.data.Calibration calibration) {
        this.method = method;
        this.calibration = calibration;
    }

    /** Weight matching (no data needed). */
    public static Alignment weightMatching() {
        return new Alignment(Method.WEIGHT, null);
    }

    /** Activation matching on {@code data} (see {@link dev.graft.data.Calibration}). */
    public static Alignment activationMatching(dev.graft.data.Calibration data) {
        return new Alignment(Method.ACTIVATION, java.util.Objects.requireNonNull(data));
    }

    /** Seed of the order in which groups are visited (default 0). */
    public Alignment seed(long s) {
        this.seed = s;
        return this;
    }

    /**
     * Cap on full passes over the groups (default 100).
     *
     * @throws InvalidSettingException if {@code n} is less than 1
     */
    public Alignment maxPasses(int n) {
        if (n < 1) {
            throw new InvalidSettingException("max passes must be at least 1, got " + n);
        }
        this.maxPasses = n;
        return this;
    }

    /**
     * Let groups reach graph outputs (default false): the residual stream of a transformer then aligns too, and
     * the aligned model's output coordinates come in the reference's order. Right when the model is aligned in
     * order to be merged with the reference; wrong when it must keep its own interface.
     */
    public Alignment permuteOutputs(boolean on) {
        this.permuteOutputs = on;
        return this;
    }

    /** Count attention key biases in the costs (default false: softmax cancels them, see {@link WeightMatching}). */
    public Alignment keepKeyBiases(boolean on) {
        this.keepKeyBiases = on;
        return this;
    }

    /** How the probe run that finds value shapes is made (default {@link ProbeOptions#defaults()}). */
    public Alignment probes(ProbeOptions options) {
        this.probes = options;
        return this;
    }

    /** Finds the permutations that align {@code model} to {@code reference}, without writing anything. */
    public Result match(Path model, Path reference) {
        long start = System.nanoTime();
        PermutationSpec spec = spec(model, permuteOutputs, probes);
        if (method == Method.ACTIVATION) {
            ActivationMatching.Result r = ActivationMatching.match(reference, model, spec, calibration);
            WeightMatching.Result asWeights = new WeightMatching.Result(r.permutations(), 1, r.scores());
            return new Result(report(model, reference, spec, asWeights, (System.nanoTime() - start) / 1e9),
                    r.permutations(), null);
        }
        try (OnnxModel b = OnnxModel.open(model); OnnxModel a = OnnxModel.open(reference)) {
            Predicate<String> exclude = keepKeyBiases ? name -> false : WeightMatching.attentionKeyBiases(b);
            WeightMatching.Result r = WeightMatching.match(a, b, spec, seed, maxPasses, exclude);
            return new Result(report(model, reference, spec, r, (System.nanoTime() - start) / 1e9), r.permutations(),
                    null);
        }
    }

    /**
     * Aligns {@code model} to {@code reference} and writes the aligned model to {@code target}, atomically; unless
     * outputs are permutable, checks in ONNX Runtime that it computes what {@code model} does (probe inputs,
     * largest difference at most 1e-3 of the largest output) and deletes it with an error otherwise.
     */
    public Result alignTo(Path model, Path reference, Path target) {
        Result r = match(model, reference);
        try (OnnxModel b = OnnxModel.open(model)) {
            ModelPermuter.write(b, r.permutations(), target, parameters(reference));
        }
        if (!permuteOutputs) {
            double difference = new Verifier(probes).verify(target, model).maxRel();
            if (!(difference <= 1e-3)) {
                try {
                    java.nio.file.Files.deleteIfExists(target);
                } catch (java.io.IOException ignored) {
                    // reported below either way
                }
                throw new dev.graft.VerificationException(target, null, "the aligned model's outputs differ from "
                        + model.getFileName() + "'s by " + difference + " of the largest output; the permutation "
                        + "spec is wrong for this graph (please report it)", null);
            }
        }
        return new Result(r.report(), r.permutations(), target);
    }

    @Override
    public Aligned align(Path model, Path reference, Path target) {
        Result r = alignTo(model, reference, target);
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("model", r.report().model());
        report.put("reference", r.report().reference());
        report.put("method", r.report().method());
        report.put("passes", r.report().passes());
        report.put("groups", r.report().groups().size());
        report.put("moved_units", r.report().groups().stream().mapToInt(GroupReport::moved).sum());
        return new Aligned(target, report);
    }

    @Override
    public String describe() {
        return methodName() + ", seed " + seed + (permuteOutputs ? ", outputs permuted" : "");
    }

    /** The permutation spec of {@code model}, from its graph and one probe run in ONNX Runtime. */
    public static PermutationSpec spec(Path model, boolean permuteOutputs, ProbeOptions probes) {
        Map<String, ValueShapes.Shape> shapes = ValueShapes.of(model, probes);
        try (OnnxModel m = OnnxModel.open(model)) {
            return PermutationInference.infer(m, shapes, permuteOutputs);
        }
    }

    private Map<String, String> parameters(Path reference) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("method", methodName());
        p.put("reference", reference.getFileName().toString());
        p.put("seed", Long.toString(seed));
        p.put("permute_outputs", Boolean.toString(permuteOutputs));
        return p;
    }

    private String methodName() {
        return method == Method.WEIGHT ? "weight matching" : "activation matching on " + calibration.source();
    }

    private Report report(Path model, Path reference, PermutationSpec spec, WeightMatching.Result r, double seconds) {
        List<GroupReport> groups = new ArrayList<>();
        Map<String, WeightMatching.GroupScore> scores = new LinkedHashMap<>();
        r.scores().forEach(s -> scores.put(s.group(), s));
        for (int g = 0; g < spec.groups().size(); g++) {
            PermutationSpec.Group group = spec.groups().get(g);
            int[] p = r.permutations().get(g);
            int moved = 0;
            for (int i = 0; i < p.length; i++) {
                moved += p[i] != i % group.size() ? 1 : 0;
            }
            WeightMatching.GroupScore s = scores.get(group.name());
            groups.add(new GroupReport(group.name(), group.size(),
                    group.nested() ? spec.groups().get(group.parent()).name() : null, moved,
                    s == null ? Double.NaN : s.identity(), s == null ? Double.NaN : s.matched()));
        }
        return new Report(model.toString(), reference.toString(), methodName(), seed, permuteOutputs, r.passes(),
                seconds, groups, spec.fixed().size());
    }
}
