package dev.graft.plan;

import dev.graft.InvalidSettingException;
import java.util.List;
import java.util.Map;

/**
 * Parameter values for one tensor: each model's settings, then the global settings, then the method's
 * defaults (mergekit's precedence). A required parameter that nothing sets is an error naming it.
 */
public final class ResolvedParameters {
    private final String tensor;
    private final double t;
    private final Map<String, ParameterSpec> specs;
    private final Map<String, Setting> global;
    private final List<Map<String, Setting>> perModel;

    public ResolvedParameters(String tensor, double t, Map<String, ParameterSpec> specs, Map<String, Setting> global,
                              List<Map<String, Setting>> perModel) {
        this.tensor = tensor;
        this.t = t;
        this.specs = specs;
        this.global = global;
        this.perModel = perModel;
    }

    public double model(int i, String name) {
        Setting s = perModel.get(i).get(name);
        Double v = s == null ? null : s.at(tensor, t);
        return v != null ? v : global(name, " of model " + i);
    }

    public double global(String name) {
        return global(name, "");
    }

    private double global(String name, String where) {
        Setting s = global.get(name);
        Double v = s == null ? null : s.at(tensor, t);
        if (v != null) {
            return v;
        }
        ParameterSpec spec = specs.get(name);
        if (spec == null) {
            throw new IllegalStateException("the method reads parameter '" + name + "' without declaring it");
        }
        if (spec.defaultValue() == null) {
            throw new InvalidSettingException("missing required parameter '" + name + "'" + where + " for tensor '"
                    + tensor + "'");
        }
        return spec.defaultValue();
    }
}
