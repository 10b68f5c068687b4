package dev.graft.plan;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * What a merge of models of identical structure does with each initializer of the first model: floating-point
 * weights are merged, and must exist in every model with the same shape and element type; everything else
 * (integer tensors such as {@code position_ids}, shape constants) is copied from the first model. The graph
 * (nodes, Constant nodes, subgraphs) is the first model's.
 */
public final class MergePlan {
    /** What happens to one initializer. */
    public record Step(Weight first, boolean merge, String reason) {
    }

    /** A non-floating-point initializer of a later model that the first model does not have: not needed. */
    public record Ignored(String tensor, String reason) {
    }

    private final List<Step> steps;
    private final List<Ignored> ignored;

    private MergePlan(List<Step> steps, List<Ignored> ignored) {
        this.steps = List.copyOf(steps);
        this.ignored = List.copyOf(ignored);
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
        List<Step> steps = new ArrayList<>();
        Set<String> planned = new HashSet<>();
        for (Weight w : first.initializers()) {
            planned.add(w.name());
            if (!w.type().isFloatingPoint()) {
                steps.add(new Step(w, false, w.type().displayName() + " tensor: copied from "
                        + first.file().getFileName()));
                continue;
            }
            for (OnnxModel other : models.subList(1, models.size())) {
                Weight o = other.weight(w.name()).orElseThrow(() -> new IncompatibleModelsException(other.file(),
                        w.name(), "has no such weight, but " + first.file().getFileName() + " has "
                        + w.type().displayName() + Arrays.toString(w.shape())));
                if (!Arrays.equals(o.shape(), w.shape()) || o.type() != w.type()) {
                    throw new IncompatibleModelsException(other.file(), w.name(), "is " + o.type().displayName()
                            + Arrays.toString(o.shape()) + " but " + first.file().getFileName() + " has "
                            + w.type().displayName() + Arrays.toString(w.shape()));
                }
            }
            steps.add(new Step(w, true, "merged"));
        }
        List<Ignored> ignored = new ArrayList<>();
        for (OnnxModel other : models.subList(1, models.size())) {
            for (Weight o : other.initializers()) {
                if (!o.type().isFloatingPoint() && !planned.contains(o.name())) {
                    planned.add(o.name()); // report each ignored tensor once
                    ignored.add(new Ignored(o.name(), o.type().displayName() + " initializer only in "
                            + other.file().getFileName() + ": the first model's graph does not use it"));
                } else if (!planned.contains(o.name())) {
                    throw new IncompatibleModelsException(other.file(), o.name(), "is " + o.type().displayName()
                            + Arrays.toString(o.shape()) + " but " + first.file().getFileName()
                            + " has no initializer of that name");
                }
            }
        }
        return new MergePlan(steps, ignored);
    }

    /** Initializers of later models that are not merged because the first model's graph has no use for them. */
    public List<Ignored> ignored() {
        return ignored;
    }

    /** One step per initializer of the first model, in its order. */
    public List<Step> steps() {
        return steps;
    }
}
