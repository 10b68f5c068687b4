package dev.graft.merge;

import dev.graft.InvalidSettingException;
import dev.graft.plan.MergeMethodFactory;
import dev.graft.plan.MergeMethod;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** The registry of merge methods by recipe name ({@code merge_method}), each in either convention. */
public final class MergeMethods {
    private static final Map<String, Function<Convention, MergeMethod>> METHODS = new LinkedHashMap<>();

    static {
        METHODS.put("linear", c -> new Linear());
        METHODS.put("task_arithmetic", TaskArithmetic::new);
        METHODS.put("ties", Ties::new);
        METHODS.put("dare_linear", DareLinear::new);
        METHODS.put("dare_ties", DareTies::new);
        METHODS.put("breadcrumbs", Breadcrumbs::new);
        METHODS.put("breadcrumbs_ties", BreadcrumbsTies::new);
        METHODS.put("della", Della::new);
        METHODS.put("della_linear", DellaLinear::new);
        METHODS.put("slerp", c -> new Slerp());
        METHODS.put("nuslerp", c -> new NuSlerp());
        METHODS.put("model_stock", c -> new ModelStock());
        METHODS.put("karcher", c -> new KarcherMean());
    }

    private MergeMethods() {
    }

    /**
     * The method called {@code name}, in the mergekit convention.
     *
     * @throws InvalidSettingException if no method has that name
     */
    public static MergeMethod create(String name) {
        return create(name, Convention.MERGEKIT);
    }

    /**
     * The method called {@code name} in {@code convention} (which only the task-vector family reads).
     *
     * @throws InvalidSettingException if no method has that name
     */
    public static MergeMethod create(String name, Convention convention) {
        Function<Convention, MergeMethod> f = METHODS.get(name);
        if (f == null) {
            throw new InvalidSettingException("unknown merge method '" + name + "' (available: " + names() + ")");
        }
        return f.apply(convention);
    }

    /** Every method name, in a fixed order. */
    public static List<String> names() {
        return List.copyOf(METHODS.keySet());
    }

    /** This registry as a {@link MergeMethodFactory} service, for modules that find methods by name. */
    public static final class Factory implements MergeMethodFactory {
        @Override
        public List<String> names() {
            return MergeMethods.names();
        }

        @Override
        public MergeMethod create(String name) {
            return MergeMethods.create(name);
        }
    }
}
