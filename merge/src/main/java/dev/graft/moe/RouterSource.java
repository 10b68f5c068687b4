package dev.graft.moe;

import dev.graft.InvalidSettingException;
import dev.graft.data.Calibration;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where a routed merge's routers come from. {@link #fitted}: a multinomial logistic regression per router on
 * task-labelled samples (each expert's own task data: a sample's label is the expert it came with), pooled at the
 * router's input on the static merge; {@link #prototypes}: training-free, cosine similarity of the pooled input to
 * each task's mean; both give each sample its task posteriors times {@link #scale} (1 by default: a confident
 * router gives that task's fine-tune in the routed layers). {@link #file}: WEMoE routers trained elsewhere
 * ({@link RouterFiles}). {@link #constant}: every coefficient λ, WEMoE's start, which makes the routed layers
 * task arithmetic; {@link #picking}: always one expert.
 */
public final class RouterSource {
    private enum Kind { CONSTANT, PICKING, LOGISTIC, PROTOTYPES, FILE }

    private final Kind kind;
    private final List<Calibration> tasks;
    private final Path folder;
    private final int expert;
    private final double scale;
    private final double ridge;

    private RouterSource(Kind kind, List<Calibration> tasks, Path folder, int expert, double scale, double ridge) {
        this.kind = kind;
        this.tasks = tasks;
        this.folder = folder;
        this.expert = expert;
        this.scale = scale;
        this.ridge = ridge;
    }

    /** Every coefficient λ (the merge's task-arithmetic scale). */
    public static RouterSource constant() {
        return new RouterSource(Kind.CONSTANT, null, null, -1, 1, RouterFit.RIDGE);
    }

    /** Coefficient 1 for expert {@code expert} (0-based) and 0 for the others, for every input. */
    public static RouterSource picking(int expert) {
        if (expert < 0) {
            throw new InvalidSettingException("an expert index is 0 or more, got " + expert);
        }
        return new RouterSource(Kind.PICKING, null, null, expert, 1, RouterFit.RIDGE);
    }

    /** Logistic-regression routers fitted to {@code perExpert} (each expert's task samples, in the experts' order). */
    public static RouterSource fitted(List<Calibration> perExpert) {
        return new RouterSource(Kind.LOGISTIC, List.copyOf(perExpert), null, -1, 1, RouterFit.RIDGE);
    }

    /** Prototype routers from {@code perExpert} (each expert's task samples, in the experts' order). */
    public static RouterSource prototypes(List<Calibration> perExpert) {
        return new RouterSource(Kind.PROTOTYPES, List.copyOf(perExpert), null, -1, 1, RouterFit.RIDGE);
    }

    /** WEMoE routers read from {@code folder} ({@link RouterFiles}). */
    public static RouterSource file(Path folder) {
        return new RouterSource(Kind.FILE, null, folder, -1, 1, RouterFit.RIDGE);
    }

    /**
     * The same source with fitted or prototype posteriors multiplied by {@code scale}.
     *
     * @throws InvalidSettingException if {@code scale} is not positive and finite
     */
    public RouterSource scale(double scale) {
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new InvalidSettingException("a router scale must be positive, got " + scale);
        }
        return new RouterSource(kind, tasks, folder, expert, scale, ridge);
    }

    /**
     * The same source with L2 pull {@code ridge} in the logistic fit (on standardized features; default 1e-2).
     *
     * @throws InvalidSettingException if {@code ridge} is negative or not finite
     */
    public RouterSource ridge(double ridge) {
        if (!(ridge >= 0) || Double.isInfinite(ridge)) {
            throw new InvalidSettingException("a router ridge must be 0 or more, got " + ridge);
        }
        return new RouterSource(kind, tasks, folder, expert, scale, ridge);
    }

    /** How the routers are made, for provenance and reports: {@code fitted (scale 1.0)}, say. */
    public String describe() {
        return switch (kind) {
            case CONSTANT -> "constant";
            case PICKING -> "picking expert " + expert;
            case LOGISTIC -> "fitted (scale " + scale + ", ridge " + ridge + ")";
            case PROTOTYPES -> "prototypes (scale " + scale + ")";
            case FILE -> "file " + folder;
        };
    }

    /** Each expert's task samples, or null for routers that need none. */
    List<Calibration> tasks() {
        return tasks;
    }

    /**
     * The routers of {@code groups} for {@code experts} experts; fitted and prototype routers are made from the
     * pooled values of {@code features} at the routers' inputs (the static merge, or a routed model).
     *
     * @throws InvalidSettingException if the task data is not one set per expert, or an expert index is out of range
     */
    Map<String, Router> routers(List<RoutedLayers.Group> groups, int experts, double lambda, Path features) {
        Map<String, Router> out = new LinkedHashMap<>();
        switch (kind) {
            case CONSTANT -> groups.forEach(g -> out.put(g.name(), Router.constant(g.width(), experts, lambda)));
            case PICKING -> {
                if (expert >= experts) {
                    throw new InvalidSettingException("expert " + expert + " picked but there are " + experts);
                }
                groups.forEach(g -> out.put(g.name(), Router.picking(g.width(), experts, expert)));
            }
            case FILE -> {
                Map<String, Integer> widths = new LinkedHashMap<>();
                groups.forEach(g -> widths.put(g.name(), g.width()));
                out.putAll(RouterFiles.read(folder, widths, experts));
            }
            case LOGISTIC, PROTOTYPES -> {
                if (tasks.size() != experts) {
                    throw new InvalidSettingException("routers are fitted to one set of task samples per expert: "
                            + experts + " experts but " + tasks.size() + " sets");
                }
                Set<String> inputs = new LinkedHashSet<>();
                groups.forEach(g -> inputs.add(g.input()));
                Map<String, List<float[][]>> pooled = PooledInputs.of(features, inputs, tasks);
                for (RoutedLayers.Group g : groups) {
                    List<float[][]> rows = pooled.get(g.input());
                    out.put(g.name(), kind == Kind.LOGISTIC ? RouterFit.logistic(rows, scale, ridge)
                            : RouterFit.prototypes(rows, scale));
                }
            }
        }
        return out;
    }
}
