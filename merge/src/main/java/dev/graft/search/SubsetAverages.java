package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.EvaluationReport;
import dev.graft.eval.Task;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The parameter averages of many subsets of a pool of models, scored on tasks in one run (Na et al., "Scalable
 * Data Ablation Approximations for Language Models through Modular Training and Merging", EMNLP 2024: the average of
 * models trained on partitions of the data predicts a model trained on their union, so a pool of partition models
 * scores every mixture of the partitions at the cost of evaluations). A subset S averages to
 * {@code θ_S = (1/|S|)·Σ_{i∈S} θ_i = θ₀ + Σ_{i∈S} (1/|S|)·(θ_i − θ₀)}, θ₀ the pool's first model, so every subset is a
 * point of one {@link CoefficientModel} and nothing is written per subset. Every subset when there are at most
 * {@code maxSubsets}; else every single model, the whole pool and, for each size between, subsets drawn at random
 * (seeded) in equal numbers. Tasks that name their fine-tuned model are also given normalized scores.
 */
public final class SubsetAverages {
    private SubsetAverages() {
    }

    /** A report: the subsets' scores (rows named {@code {a, b}}), and a summary by subset size. */
    public record Report(EvaluationReport scores, List<List<Integer>> subsets) {
        /** By subset size: how many subsets, and the mean, best and worst average score. */
        public String bySize() {
            StringBuilder md = new StringBuilder("| models averaged | subsets | mean average | best | worst |\n"
                    + "|---:|---:|---:|---:|---:|\n");
            int largest = subsets.stream().mapToInt(List::size).max().orElse(0);
            for (int k = 1; k <= largest; k++) {
                double sum = 0;
                double best = Double.NEGATIVE_INFINITY;
                double worst = Double.POSITIVE_INFINITY;
                int n = 0;
                for (int s = 0; s < subsets.size(); s++) {
                    if (subsets.get(s).size() == k) {
                        double a = scores.average(s);
                        sum += a;
                        best = Math.max(best, a);
                        worst = Math.min(worst, a);
                        n++;
                    }
                }
                if (n > 0) {
                    md.append(String.format(Locale.ROOT, "| %d | %d | %.3f | %.3f | %.3f |%n", k, n, sum / n, best,
                            worst));
                }
            }
            return md.toString();
        }
    }

    /**
     * Scores the averages of subsets of {@code pool} (at least two models of one architecture) on {@code tasks};
     * the candidates' models are written to {@code work} (as {@code subsets.onnx}) and opened while it runs.
     *
     * @throws InvalidSettingException if the pool has fewer than two models or {@code maxSubsets} is below the pool's
     *                                 size plus one
     */
    public static Report run(List<Path> pool, List<String> names, List<Task> tasks, int maxSubsets, long seed,
                             Path work) {
        int n = pool.size();
        if (n < 2) {
            throw new InvalidSettingException("subset averages need at least two models, got " + n);
        }
        if (maxSubsets < n + 1) {
            throw new InvalidSettingException("at most " + maxSubsets + " subsets cannot hold the " + n
                    + " single models and the whole pool");
        }
        List<List<Integer>> subsets = choose(n, maxSubsets, seed);
        double[][] scores = new double[subsets.size()][tasks.size()];
        try (CoefficientModel m = CoefficientModel.build(pool.get(0), pool.subList(1, n),
                CoefficientBlocks.Granularity.TASK, work.resolve("subsets.onnx"))) {
            for (int s = 0; s < subsets.size(); s++) {
                double[] c = new double[n - 1];
                for (int i : subsets.get(s)) {
                    if (i > 0) {
                        c[i - 1] = 1.0 / subsets.get(s).size();
                    }
                }
                try (Candidate.Session session = m.session(c)) {
                    for (int t = 0; t < tasks.size(); t++) {
                        scores[s][t] = tasks.get(t).score(session);
                    }
                }
            }
        }
        List<String> rows = subsets.stream().map(s -> "{" + String.join(", ", s.stream().map(names::get).toList())
                + "}").toList();
        double[] fineTuned = new double[tasks.size()];
        for (int t = 0; t < tasks.size(); t++) {
            Path own = tasks.get(t).fineTuned();
            fineTuned[t] = own == null ? Double.NaN : tasks.get(t).score(Candidate.of(own));
        }
        return new Report(new EvaluationReport(tasks.stream().map(Task::name).toList(),
                tasks.stream().map(Task::metric).toList(), rows, scores, fineTuned), subsets);
    }

    /** The subsets to score, by size, then in order of their members. */
    static List<List<Integer>> choose(int n, int maxSubsets, long seed) {
        Set<List<Integer>> chosen = new LinkedHashSet<>();
        if (n < 31 && (1L << n) - 1 <= maxSubsets) {
            for (long mask = 1; mask < (1L << n); mask++) {
                chosen.add(members(mask, n));
            }
        } else {
            for (int i = 0; i < n; i++) {
                chosen.add(List.of(i));
            }
            List<Integer> all = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                all.add(i);
            }
            chosen.add(List.copyOf(all));
            int sizes = n - 2; // sizes 2 .. n−1
            int perSize = sizes == 0 ? 0 : (maxSubsets - n - 1) / sizes;
            SplittableRandom random = new SplittableRandom(seed);
            for (int k = 2; k < n; k++) {
                for (int tries = 0, added = 0; added < perSize && tries < 20 * perSize; tries++) {
                    List<Integer> shuffled = new ArrayList<>(all);
                    for (int i = n - 1; i > 0; i--) {
                        java.util.Collections.swap(shuffled, i, random.nextInt(i + 1));
                    }
                    List<Integer> s = new ArrayList<>(shuffled.subList(0, k));
                    s.sort(null);
                    if (chosen.add(List.copyOf(s))) {
                        added++;
                    }
                }
            }
        }
        List<List<Integer>> out = new ArrayList<>(chosen);
        out.sort((a, b) -> a.size() != b.size() ? Integer.compare(a.size(), b.size()) : compare(a, b));
        return out;
    }

    private static int compare(List<Integer> a, List<Integer> b) {
        for (int i = 0; i < a.size(); i++) {
            int c = Integer.compare(a.get(i), b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return 0;
    }

    private static List<Integer> members(long mask, int n) {
        List<Integer> m = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if ((mask & (1L << i)) != 0) {
                m.add(i);
            }
        }
        return m;
    }
}
