package dev.graft.search;

import dev.graft.InvalidSettingException;
import dev.graft.eval.Candidate;
import dev.graft.eval.Head;
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
 * jointly by gradient; its confidence-based sample selection (Tinting++) is not implemented.
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

    /** Each task's pseudo-labels: the argmax of its fine-tuned model's logits through its head. */
    List<int[]> pseudoLabels() {
        List<int[]> out = new ArrayList<>();
        for (Task t : tasks) {
            try (Candidate.Session teacher = Candidate.of(t.fineTuned()).open()) {
                out.add(argmax(t.logits(teacher)));
            }
        }
        return out;
    }

    public Result run() {
        List<int[]> labels = pseudoLabels();
        List<Head> heads = new ArrayList<>(tasks.stream().map(Task::head).toList());
        double[] c = space.initial();
        double cost = Double.NaN;
        for (int r = 0; r < rounds; r++) {
            List<Task> tinted = tinted(heads, labels);
            CoefficientSearch.Result found = CoefficientSearch.over(space, tinted)
                    .objective(CoefficientSearch.Objective.SUPERVISED).start(c).generations(generations)
                    .seed(seed + r).run();
            c = found.coefficients();
            try (Candidate.Session s = space.session(c)) {
                for (int t = 0; t < tasks.size(); t++) {
                    heads.set(t, HeadFit.fit(heads.get(t), tasks.get(t).pooled(s), labels.get(t), lambda, 300));
                }
            }
            cost = CoefficientSearch.over(space, tinted(heads, labels))
                    .objective(CoefficientSearch.Objective.SUPERVISED).cost(c);
        }
        return new Result(c, List.copyOf(heads), cost);
    }

    private List<Task> tinted(List<Head> heads, List<int[]> labels) {
        List<Task> out = new ArrayList<>();
        for (int t = 0; t < tasks.size(); t++) {
            out.add(tasks.get(t).withHead(heads.get(t)).withLabels(labels.get(t)));
        }
        return out;
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
