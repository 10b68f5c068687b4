package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Head;
import dev.graft.eval.HeadFit;
import dev.graft.eval.Task;
import java.util.ArrayList;
import java.util.List;

/**
 * Model Tinting (Wang et al., "Tint Your Models Task-wise for Improved Multi-task Model Merging", CVPR 2025):
 * merge coefficients learned as AdaMerging's, plus one task-specific layer per task, here each task's linear head,
 * both fitted to pseudo-labels: the predictions of each task's own fine-tuned model (through the same head) on the
 * task's inputs, so no labels are used. With the network fixed a head's fit is convex (multinomial logistic
 * regression on the pooled features, {@link HeadFit}, kept near the original head), so the two alternate, for a
 * number of rounds: search the coefficients with the heads fixed (cross-entropy against the pseudo-labels, CMA-ES
 * from the last round's best), then refit every head on the best candidate's features. The paper trains both
 * jointly by gradient. With {@link #confident} only each task's most confidently pseudo-labelled samples are used
 * (the confidence-based selection of the paper's Tinting++: here the share of samples with the highest softmax
 * probability of the fine-tune's prediction; the paper's exact rule could not be checked here).
 */
public final class Tinting {
    /** The outcome: the coefficients, each task's refitted head, and the final cost (mean cross-entropy). */
    public record Result(double[] coefficients, List<Head> heads, double cost) {
    }

    private final SearchSpace space;
    private final List<Task> tasks;
    private int rounds = 3;
    private int generations = 10;
    private long seed;
    private double lambda = 1e-2;
    private double confident = 1;

    private Tinting(SearchSpace space, List<Task> tasks) {
        this.space = space;
        this.tasks = List.copyOf(tasks);
    }

    /**
     * Tinting over {@code space} on {@code tasks}, each with a linear head and its own fine-tuned model.
     *
     * @throws InvalidSettingException naming a task that lacks either
     */
    public static Tinting over(SearchSpace space, List<Task> tasks) {
        check(tasks);
        return new Tinting(space, tasks);
    }

    /**
     * Checks that {@code tasks} can be tinted: at least one, each with a linear head and a fine-tuned model.
     *
     * @throws InvalidSettingException naming a task that lacks either
     */
    public static void check(List<Task> tasks) {
        if (tasks.isEmpty()) {
            throw new InvalidSettingException("tinting needs at least one task");
        }
        for (Task t : tasks) {
            if (t.head() == null || !t.head().isLinear() || t.fineTuned() == null) {
                throw new InvalidSettingException("task '" + t.name() + "': tinting refits a task's linear head "
                        + "(head: a .npy) against its fine-tuned model's predictions (fine_tuned:); it lacks "
                        + (t.head() == null || !t.head().isLinear() ? "a linear head" : "a fine-tuned model"));
            }
        }
    }

    /** Alternations of coefficient search and head refit (default 3). */
    public Tinting rounds(int r) {
        this.rounds = r;
        return this;
    }

    /** CMA-ES generations per round (default 10). */
    public Tinting generations(int g) {
        this.generations = g;
        return this;
    }

    public Tinting seed(long s) {
        this.seed = s;
        return this;
    }

    /** The heads' pull towards their original weights (default 0.01). */
    public Tinting lambda(double l) {
        this.lambda = l;
        return this;
    }

    /**
     * Fits on the share {@code fraction} of each task's samples (at least one) whose pseudo-label the fine-tune gives
     * with the highest softmax probability (default 1: every sample).
     *
     * @throws InvalidSettingException if the fraction is not in (0, 1]
     */
    public Tinting confident(double fraction) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new InvalidSettingException("the confident share of samples must be in (0, 1], got " + fraction);
        }
        this.confident = fraction;
        return this;
    }

    /** Each task's pseudo-labels: the argmax of its fine-tuned model's logits through its head. */
    List<int[]> pseudoLabels() {
        return teacherLogits().stream().map(Tinting::argmax).toList();
    }

    /**
     * The indices (ascending) of each task's samples that the fit uses: the {@link #confident} share with the most
     * confident pseudo-labels, ties to the earlier sample.
     */
    List<int[]> selected() {
        return select(teacherLogits());
    }

    private List<int[]> select(List<float[][]> teacher) {
        List<int[]> out = new ArrayList<>();
        for (float[][] logits : teacher) {
            int keep = Math.max(1, (int) Math.ceil(confident * logits.length));
            double[] confidence = java.util.Arrays.stream(logits).mapToDouble(Tinting::topProbability).toArray();
            out.add(java.util.stream.IntStream.range(0, logits.length).boxed()
                    .sorted((i, j) -> confidence[i] != confidence[j] ? Double.compare(confidence[j], confidence[i])
                            : Integer.compare(i, j))
                    .limit(keep).mapToInt(Integer::intValue).sorted().toArray());
        }
        return out;
    }

    private List<float[][]> teacherLogits() {
        List<float[][]> out = new ArrayList<>();
        for (Task t : tasks) {
            try (Candidate.Session teacher = Candidate.of(t.fineTuned()).open()) {
                out.add(t.logits(teacher));
            }
        }
        return out;
    }

    /** Pseudo-labels, the confident samples if asked, then the rounds of coefficient search and head refit. */
    public Result run() {
        List<float[][]> teacher = teacherLogits();
        List<int[]> labels = new ArrayList<>(teacher.stream().map(Tinting::argmax).toList());
        List<Task> used = new ArrayList<>(tasks);
        if (confident < 1) {
            List<int[]> selected = select(teacher);
            for (int t = 0; t < tasks.size(); t++) {
                int[] all = labels.get(t);
                labels.set(t, java.util.Arrays.stream(selected.get(t)).map(i -> all[i]).toArray());
                used.set(t, tasks.get(t).select(selected.get(t)));
            }
        }
        return fit(used, labels);
    }

    private Result fit(List<Task> used, List<int[]> labels) {
        List<Head> heads = new ArrayList<>(used.stream().map(Task::head).toList());
        double[] c = space.initial();
        double cost = Double.NaN;
        for (int r = 0; r < rounds; r++) {
            List<Task> tinted = tinted(used, heads, labels);
            CoefficientSearch.Result found = CoefficientSearch.over(space, tinted)
                    .objective(CoefficientSearch.Objective.SUPERVISED).start(c).generations(generations)
                    .seed(seed + r).run();
            c = found.coefficients();
            try (Candidate.Session s = space.session(c)) {
                for (int t = 0; t < used.size(); t++) {
                    heads.set(t, HeadFit.fit(heads.get(t), used.get(t).pooled(s), labels.get(t), lambda, 300));
                }
            }
            cost = CoefficientSearch.over(space, tinted(used, heads, labels))
                    .objective(CoefficientSearch.Objective.SUPERVISED).cost(c);
        }
        return new Result(c, List.copyOf(heads), cost);
    }

    private static List<Task> tinted(List<Task> used, List<Head> heads, List<int[]> labels) {
        List<Task> out = new ArrayList<>();
        for (int t = 0; t < used.size(); t++) {
            out.add(used.get(t).withHead(heads.get(t)).withLabels(labels.get(t)));
        }
        return out;
    }

    /** {@code max softmax(row)}. */
    private static double topProbability(float[] row) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        return 1 / sum;
    }

    private static int[] argmax(float[][] logits) {
        int[] out = new int[logits.length];
        for (int i = 0; i < logits.length; i++) {
            for (int k = 1; k < logits[i].length; k++) {
                if (logits[i][k] > logits[i][out[i]]) {
                    out[i] = k;
                }
            }
        }
        return out;
    }
}
