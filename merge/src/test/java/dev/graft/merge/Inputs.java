package dev.graft.merge;

import dev.graft.plan.MergeMethod;
import dev.graft.plan.ParameterSpec;
import dev.graft.plan.ResolvedParameters;
import dev.graft.plan.Setting;
import dev.graft.plan.TensorDiagnostics;
import dev.graft.plan.TensorInputs;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds the inputs of one hand-made tensor for a method, and runs the method on them. */
final class Inputs {
    private float[] base;
    private final List<float[]> models = new ArrayList<>();
    private final List<Map<String, Setting>> perModel = new ArrayList<>();
    private final Map<String, Setting> global = new HashMap<>();
    private long[] shape;
    private boolean inOut;
    private long seed = 1;
    TensorDiagnostics.Recorder recorder;

    static Inputs base(float... values) {
        Inputs i = new Inputs();
        i.base = values;
        return i;
    }

    static Inputs noBase() {
        return new Inputs();
    }

    Inputs model(double weight, float... values) {
        return model(Map.of("weight", weight), values);
    }

    Inputs model(Map<String, Double> params, float... values) {
        models.add(values);
        Map<String, Setting> s = new LinkedHashMap<>();
        params.forEach((k, v) -> s.put(k, Setting.of(v)));
        perModel.add(s);
        return this;
    }

    Inputs global(String name, double value) {
        global.put(name, Setting.of(value));
        return this;
    }

    Inputs shape(long... dims) {
        this.shape = dims;
        return this;
    }

    Inputs inOut() {
        this.inOut = true;
        return this;
    }

    Inputs seed(long s) {
        this.seed = s;
        return this;
    }

    TensorInputs build(MergeMethod method) {
        Map<String, ParameterSpec> specs = new HashMap<>();
        for (ParameterSpec p : method.parameters()) {
            specs.put(p.name(), p);
        }
        int n = models.get(0).length;
        recorder = new TensorDiagnostics.Recorder(models.size());
        float[][] copies = new float[models.size()][];
        for (int i = 0; i < copies.length; i++) {
            copies[i] = models.get(i).clone(); // a method may overwrite its model arrays
        }
        return new TensorInputs("t", shape == null ? new long[] {n} : shape, inOut, base, copies,
                new ResolvedParameters("t", 0, specs, global, perModel), seed,
                recorder);
    }

    float[] run(MergeMethod method) {
        float[] out = new float[models.get(0).length];
        method.merge(build(method), out);
        return out;
    }
}
