package dev.graft.plan;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.UnsupportedModelException;
import dev.graft.index.QuantizedMatMul;
import dev.graft.index.GraphIndex;
import dev.graft.index.TiedWeights;
import dev.graft.index.WeightRole;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a merge of models of identical structure does with each initializer of the first model: floating-point
 * weights are merged, and must exist in every model with the same shape and element type; everything else
 * (integer tensors such as {@code position_ids}, shape constants, rotary caches, the defaults of LoRA input slots)
 * is copied from the first model. The graph
 * (nodes, Constant nodes, subgraphs) is the first model's.
 *
 * <p>Weights are paired across models by name, except anonymous names ({@code onnx::MatMul_1299}: TorchScript
 * numbers unnamed weights by a counter, so one more parameter shifts every number), which are paired by what the
 * graph says they are: the module path and role from {@link GraphIndex} ({@code model.layers.0.self_attn.q_proj},
 * MatMul B). Pairs whose names differ are listed ({@link #renamed}).
 */
public final class MergePlan {
    /**
     * What happens to one initializer: {@code sources} holds its weight in every model, the first model's first;
     * {@code tie}, when not null, says it is a copy of another merged weight in every model (a tied embedding), so
     * its merge is that weight's merge, transposed if the tie is; {@code quantized}, when not null, holds the
     * quantized weight it is part of (codes, scales or zero points) in every model: the weight is merged as float
     * and quantized again.
     */
    public record Step(Weight first, boolean merge, String reason, List<Weight> sources, TiedWeights.Tie tie,
                       List<QuantizedMatMul> quantized) {
        Step(Weight first, boolean merge, String reason, List<Weight> sources) {
            this(first, merge, reason, sources, null, null);
        }
    }

    /** A non-floating-point initializer of a later model that the first model does not have: not needed. */
    public record Ignored(String tensor, String reason) {
    }

    /** A weight of a later model paired with a first-model weight of another name, by what they are. */
    public record Renamed(String tensor, String file, String pairedWith, String module) {
    }

    private final List<Step> steps;
    private final Map<String, Step> byName = new HashMap<>();
    private final List<Ignored> ignored;
    private final List<Renamed> renamed;

    private MergePlan(List<Step> steps, List<Ignored> ignored, List<Renamed> renamed) {
        this.steps = List.copyOf(steps);
        steps.forEach(s -> byName.put(s.first().name(), s));
        this.ignored = List.copyOf(ignored);
        this.renamed = List.copyOf(renamed);
    }

    /**
     * Plans the merge; throws {@link IncompatibleModelsException} naming the file and tensor that disagree.
     *
     * @throws InvalidSettingException if {@code models} is empty
     */
    public static MergePlan of(List<OnnxModel> models) {
        if (models.isEmpty()) {
            throw new InvalidSettingException("a merge needs at least one model");
        }
        OnnxModel first = models.get(0);
        List<ModuleKeys> keys = models.stream().map(ModuleKeys::of).toList();
        List<Map<String, QuantizedMatMul>> quantized = models.stream().map(QuantizedMatMul::byPart).toList();
        Map<String, List<QuantizedMatMul>> quantizedGroups = new HashMap<>();
        List<Step> steps = new ArrayList<>();
        List<Renamed> renamed = new ArrayList<>();
        List<Set<String>> paired = new ArrayList<>();
        models.forEach(m -> paired.add(new HashSet<>()));
        for (Weight w : first.initializers()) {
            paired.get(0).add(w.name());
            WeightRole role = keys.get(0).roleOf(w.name());
            QuantizedMatMul q = quantized.get(0).get(w.name());
            if (q != null) {
                List<QuantizedMatMul> group = quantizedGroups.computeIfAbsent(q.codes().name(),
                        codes -> pairQuantized(q, models, keys, quantized));
                List<Weight> sources = new ArrayList<>();
                for (int m = 0; m < models.size(); m++) {
                    Weight part = w == q.codes() ? group.get(m).codes() : w == q.scales() ? group.get(m).scales()
                            : group.get(m).zeroPoints();
                    paired.get(m).add(part.name());
                    sources.add(part);
                }
                steps.add(new Step(w, true, q.quantization().bits() + "-bit MatMulNBits weight: dequantized, merged "
                        + "and quantized again", sources, null, group));
                continue;
            }
            if (role.quantized()) {
                throw new UnsupportedModelException(first.file(), w.name(), "holds " + role.label() + " of a quantized "
                        + "weight (" + keys.get(0).consumer(w.name()) + "); Graft merges MatMulNBits weights only: "
                        + "merge the float models, then quantize the result");
            }
            if (role == WeightRole.ROTARY_CACHE || role == WeightRole.LORA_SLOT) {
                steps.add(new Step(w, false, (role == WeightRole.ROTARY_CACHE ? "rotary cos/sin cache, a constant "
                        + "of the architecture" : "default of a LoRA input slot, an adapter's factor fed per run")
                        + ": copied from " + first.file().getFileName(), List.of(w)));
                for (int m = 1; m < models.size(); m++) {
                    paired.get(m).add(w.name());
                }
                continue;
            }
            if (!w.type().isFloatingPoint()) {
                steps.add(new Step(w, false, w.type().displayName() + " tensor: copied from "
                        + first.file().getFileName(), List.of(w)));
                continue;
            }
            List<Weight> sources = new ArrayList<>(List.of(w));
            for (int m = 1; m < models.size(); m++) {
                OnnxModel other = models.get(m);
                Weight o = pair(w, keys.get(0), other, keys.get(m));
                if (!Arrays.equals(o.shape(), w.shape()) || o.type() != w.type()) {
                    throw new IncompatibleModelsException(other.file(), o.name(), "is " + o.type().displayName()
                            + Arrays.toString(o.shape()) + " but " + first.file().getFileName() + " has "
                            + w.type().displayName() + Arrays.toString(w.shape())
                            + (o.name().equals(w.name()) ? "" : " in '" + w.name() + "'"));
                }
                if (!o.name().equals(w.name())) {
                    renamed.add(new Renamed(o.name(), other.file().toString(), w.name(), keys.get(0).describe(w)));
                }
                paired.get(m).add(o.name());
                sources.add(o);
            }
            steps.add(new Step(w, true, "merged", sources));
        }
        List<Ignored> ignored = new ArrayList<>();
        Set<String> reported = new HashSet<>(paired.get(0));
        for (int m = 1; m < models.size(); m++) {
            OnnxModel other = models.get(m);
            for (Weight o : other.initializers()) {
                if (paired.get(m).contains(o.name())) {
                    continue;
                }
                boolean slot = keys.get(m).roleOf(o.name()) == WeightRole.LORA_SLOT;
                if (!o.type().isFloatingPoint() || slot) {
                    if (reported.add(o.name())) { // report each ignored tensor once
                        ignored.add(new Ignored(o.name(), (slot ? "LoRA input slot default" : o.type().displayName()
                                + " initializer") + " only in " + other.file().getFileName()
                                + ": the first model's graph does not use it"));
                    }
                } else {
                    throw new IncompatibleModelsException(other.file(), o.name(), "is " + o.type().displayName()
                            + Arrays.toString(o.shape()) + (keys.get(m).describe(o).isEmpty() ? "" : " ("
                            + keys.get(m).describe(o) + ")") + " but " + first.file().getFileName()
                            + " has no weight of that name or part");
                }
            }
        }
        return new MergePlan(tie(steps, keys.get(0), first), ignored, renamed);
    }

    /**
     * {@code steps} with each copy of an embedding table that is a copy in every model merged as that table
     * ({@link TiedWeights}).
     */
    private static List<Step> tie(List<Step> steps, ModuleKeys firstKeys, OnnxModel first) {
        Map<String, Step> byName = new HashMap<>();
        steps.forEach(s -> byName.put(s.first().name(), s));
        List<Step> out = new ArrayList<>(steps);
        for (TiedWeights.Tie t : TiedWeights.of(first, firstKeys.index())) {
            Step copy = byName.get(t.copy());
            Step table = byName.get(t.table());
            if (copy == null || table == null || !copy.merge() || !table.merge()) {
                continue;
            }
            boolean everywhere = true;
            for (int m = 1; m < copy.sources().size() && everywhere; m++) {
                everywhere = TiedWeights.holds(table.sources().get(m), copy.sources().get(m), t.transposed());
            }
            if (everywhere) {
                out.set(out.indexOf(copy), new Step(copy.first(), true, "tied to " + t.table()
                        + (t.transposed() ? " (transposed)" : "") + " in every model: merged as it", copy.sources(), t, null));
            }
        }
        return out;
    }


    /** The quantized weight of every model that plays the part of the first model's {@code q}. */
    private static List<QuantizedMatMul> pairQuantized(QuantizedMatMul q, List<OnnxModel> models, List<ModuleKeys> keys,
                                                       List<Map<String, QuantizedMatMul>> quantized) {
        List<QuantizedMatMul> group = new ArrayList<>(List.of(q));
        for (int m = 1; m < models.size(); m++) {
            Weight codes = pair(q.codes(), keys.get(0), models.get(m), keys.get(m));
            QuantizedMatMul o = quantized.get(m).get(codes.name());
            if (o == null || !o.sameLayout(q)) {
                throw new IncompatibleModelsException(models.get(m).file(), codes.name(), (o == null
                        ? "is not the weight of a MatMulNBits" : "is quantized as " + o.quantization())
                        + " but " + models.get(0).file().getFileName() + " has " + q.quantization());
            }
            group.add(o);
        }
        return group;
    }

    /** The weight of {@code other} that plays the part of {@code w} of the first model. */
    private static Weight pair(Weight w, ModuleKeys firstKeys, OnnxModel other, ModuleKeys otherKeys) {
        if (!ModuleKeys.anonymous(w.name())) {
            Optional<Weight> named = other.weight(w.name());
            if (named.isPresent()) {
                return named.get();
            }
        }
        String key = firstKeys.keyOf(w.name());
        Weight byModule = key == null ? null : otherKeys.weightFor(key);
        if (byModule != null) {
            return byModule;
        }
        Optional<Weight> named = other.weight(w.name());
        if (named.isPresent() && (key == null || otherKeys.keyOf(w.name()) == null)) {
            return named.get();
        }
        throw new IncompatibleModelsException(other.file(), w.name(), "has no such weight"
                + (key == null ? "" : " and no weight for " + firstKeys.describe(w)) + ", but "
                + firstKeys.file().getFileName() + " has " + w.type().displayName() + Arrays.toString(w.shape()));
    }

    /** Pairs of weights whose names differ between the first model and a later one, paired by module and role. */
    public List<Renamed> renamed() {
        return renamed;
    }

    /** Initializers of later models that are not merged because the first model's graph has no use for them. */
    public List<Ignored> ignored() {
        return ignored;
    }

    /** The step of the first model's initializer {@code name}. */
    public Step step(String name) {
        return java.util.Objects.requireNonNull(byName.get(name), name);
    }

    /** One step per initializer of the first model, in its order. */
    public List<Step> steps() {
        return steps;
    }
}
