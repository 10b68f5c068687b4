package dev.graft.pleas;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How many matched pairs of each widening group are kept apart (each kept pair adds one unit), from a width
 * {@code w} (1.0 to 2.0, a multiple of one model's) and optional per-group widths.
 * <ul>
 *   <li>{@link Pleas.Spread#UNIFORM}: every group not given its own width keeps {@code round((w − 1)·n)} of its
 *   {@code n} pairs: each group is {@code w} times as wide.</li>
 *   <li>{@link Pleas.Spread#LEAST_SIMILAR}: the same number of extra parameters as {@code UNIFORM} would add, spent
 *   on the least similar pairs over all those groups together, so width goes where the models agree least. A
 *   pair's cost is the parameters one more unit of its group adds at one model's widths (for each member axis,
 *   the weight's size over the group's).</li>
 * </ul>
 * Groups given their own width keep {@code round((w_g − 1)·n)} pairs either way. A pair with a unit that is
 * constant on the calibration data has similarity 1 here: keeping it apart would spend width on nothing the data
 * shows.
 */
final class WidthBudget {
    /** One widening group: its size, the parameters one more unit adds, and each pair's similarity. */
    record Group(int index, int size, long unitCost, double[] similarity) {
    }

    private WidthBudget() {
    }

    /** Pairs kept apart per group index. */
    static Map<Integer, Integer> kept(List<Group> groups, double width, Map<Integer, Double> own, Pleas.Spread spread) {
        Map<Integer, Integer> out = new LinkedHashMap<>();
        long budget = 0;
        List<double[]> pool = new ArrayList<>(); // {similarity, group, cost}
        for (Group g : groups) {
            Double w = own.get(g.index());
            if (w != null) {
                out.put(g.index(), (int) Math.round((w - 1) * g.size()));
                continue;
            }
            int uniform = (int) Math.round((width - 1) * g.size());
            out.put(g.index(), uniform);
            budget += uniform * g.unitCost();
            for (double s : g.similarity()) {
                pool.add(new double[] {s, g.index(), g.unitCost()});
            }
        }
        if (spread == Pleas.Spread.UNIFORM) {
            return out;
        }
        for (Group g : groups) {
            if (!own.containsKey(g.index())) {
                out.put(g.index(), 0);
            }
        }
        pool.sort(Comparator.comparingDouble(p -> p[0]));
        for (double[] pair : pool) {
            if (pair[2] > budget) {
                continue;
            }
            budget -= (long) pair[2];
            out.merge((int) pair[1], 1, Integer::sum);
        }
        return out;
    }
}
