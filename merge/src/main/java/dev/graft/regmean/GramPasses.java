package dev.graft.regmean;

import dev.graft.data.Calibration;
import dev.graft.data.InputGrams;
import dev.graft.graph.AffineLayer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * Every model's Gram matrices of the layers RegMean regresses, gathered in passes over each model's data so that
 * what is held at once stays within a budget: when a layer's Grams are first asked for, one pass gathers them
 * together with the layers not yet regressed (in graph order: writers ask in roughly that order, possibly several
 * at once), as many as {@code budgetBytes} holds
 * ({@code 8·features²} bytes per distinct layer input and model; at least one layer). A pass's Grams, and the
 * solvers made from them, are dropped once all its layers are {@linkplain #done done}. Layers reading one value
 * the same way (query, key and value) share their Grams and their solver.
 *
 * @param <S> the solver made once per distinct input
 */
final class GramPasses<S> {
    private final List<Path> models;
    private final List<Calibration> data;
    private final List<AffineLayer> layers;
    private final long budgetBytes;
    private final Set<String> done = new HashSet<>();
    private final Map<String, Pass> passOf = new HashMap<>();
    private int passes;

    /** One pass: each model's Grams of its layers and the solvers made from them. */
    private final class Pass {
        final List<InputGrams> grams = new ArrayList<>();
        final Map<Object, S> solvers = new HashMap<>();
    }

    GramPasses(List<Path> models, List<Calibration> data, List<AffineLayer> layers, long budgetBytes) {
        this.models = List.copyOf(models);
        this.data = List.copyOf(data);
        this.layers = List.copyOf(layers);
        this.budgetBytes = budgetBytes;
    }

    /** Each model's Gram of {@code layer}'s input (in the models' order), gathering a pass if needed. */
    synchronized List<double[]> grams(AffineLayer layer) {
        Pass p = pass(layer);
        return p.grams.stream().map(g -> g.of(layer.weight())).toList();
    }

    /** The solver of {@code layer}'s summed Grams, made by {@code make} once per distinct input in a pass. */
    synchronized S solver(AffineLayer layer, Function<List<double[]>, S> make) {
        Pass p = pass(layer);
        return p.solvers.computeIfAbsent(input(layer), k -> make.apply(grams(layer)));
    }

    /** Marks {@code layer} regressed; its pass is dropped when all its layers are. */
    synchronized void done(AffineLayer layer) {
        done.add(layer.weight());
        passOf.remove(layer.weight()); // the pass is unreachable once none of its layers maps to it
    }

    /** Passes over the data made so far. */
    synchronized int passes() {
        return passes;
    }

    private Pass pass(AffineLayer layer) {
        Pass p = passOf.get(layer.weight());
        if (p != null) {
            return p;
        }
        if (done.contains(layer.weight())) {
            throw new IllegalStateException("layer '" + layer.weight() + "' was already regressed");
        }
        if (!layers.contains(layer)) {
            throw new IllegalArgumentException("layer '" + layer.weight() + "' is not regressed");
        }
        p = new Pass();
        Set<Object> inputs = new HashSet<>();
        List<AffineLayer> chosen = new ArrayList<>();
        long held = 0;
        List<AffineLayer> candidates = new ArrayList<>(List.of(layer)); // then the others waiting, in graph order
        layers.stream().filter(l -> !l.equals(layer)).forEach(candidates::add);
        for (AffineLayer l : candidates) {
            if (done.contains(l.weight()) || passOf.containsKey(l.weight())) {
                continue;
            }
            long more = inputs.contains(input(l)) ? 0 : 8L * l.features() * l.features() * models.size();
            if (!chosen.isEmpty() && held + more > budgetBytes) {
                break;
            }
            held += more;
            inputs.add(input(l));
            chosen.add(l);
        }
        passes++;
        for (int m = 0; m < models.size(); m++) {
            p.grams.add(InputGrams.of(models.get(m), Map.of(), chosen, data.get(m)));
        }
        for (AffineLayer l : chosen) {
            passOf.put(l.weight(), p);
        }
        return p;
    }

    /** What a layer multiplies: its input value, and its patch geometry for a convolution. */
    private static Object input(AffineLayer l) {
        return List.of(l.input(), Objects.toString(l.patches()));
    }
}
