package dev.graft.eval;

import dev.graft.InvalidSettingException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Models evaluated on tasks: {@code Evaluation.of(tasks).run(candidates)} gives a models × tasks table of scores,
 * each task's average and the normalized scores (each divided by the task's own fine-tuned model's score,
 * FusionBench's normalized accuracy). Each candidate is opened once (one ONNX Runtime session per model file)
 * and run on every task; a task's fine-tuned model that is not among the candidates is evaluated on its task too.
 */
public final class Evaluation {
    private final List<Task> tasks;

    private Evaluation(List<Task> tasks) {
        this.tasks = List.copyOf(tasks);
    }

    /**
     * An evaluation on {@code tasks}.
     *
     * @throws InvalidSettingException if there are none or two share a name
     */
    public static Evaluation of(List<Task> tasks) {
        if (tasks.isEmpty()) {
            throw new InvalidSettingException("an evaluation needs at least one task");
        }
        Set<String> names = new HashSet<>();
        for (Task t : tasks) {
            if (!names.add(t.name())) {
                throw new InvalidSettingException("two tasks are named '" + t.name() + "'");
            }
        }
        return new Evaluation(tasks);
    }

    /** The tasks of a task file (see {@link TaskFile}). */
    public static Evaluation read(Path taskFile) {
        return of(TaskFile.read(taskFile));
    }

    /** The tasks. */
    public List<Task> tasks() {
        return tasks;
    }

    /**
     * Every candidate's score on every task.
     *
     * @throws InvalidSettingException if there are no candidates or two share a name
     */
    public EvaluationReport run(List<Candidate> candidates) {
        if (candidates.isEmpty()) {
            throw new InvalidSettingException("an evaluation needs at least one model");
        }
        Set<String> names = new HashSet<>();
        for (Candidate c : candidates) {
            if (!names.add(c.name())) {
                throw new InvalidSettingException("two models are named '" + c.name() + "'");
            }
        }
        double[][] scores = new double[candidates.size()][tasks.size()];
        for (int m = 0; m < candidates.size(); m++) {
            try (Candidate.Session s = candidates.get(m).open()) {
                for (int t = 0; t < tasks.size(); t++) {
                    scores[m][t] = tasks.get(t).score(s);
                }
            }
        }
        double[] fineTuned = new double[tasks.size()];
        for (int t = 0; t < tasks.size(); t++) {
            fineTuned[t] = fineTunedScore(tasks.get(t), candidates, scores, t);
        }
        List<String> modelNames = candidates.stream().map(Candidate::name).toList();
        return new EvaluationReport(tasks.stream().map(Task::name).toList(), tasks.stream().map(Task::metric).toList(),
                modelNames, scores, fineTuned);
    }

    private static double fineTunedScore(Task task, List<Candidate> candidates, double[][] scores, int t) {
        Path own = task.fineTuned();
        if (own == null) {
            return Double.NaN;
        }
        for (int m = 0; m < candidates.size(); m++) {
            if (candidates.get(m).isFile(own)) {
                return scores[m][t];
            }
        }
        return task.score(Candidate.of(own));
    }

    /** Candidates for model files, named by file name (by path where two names would clash). */
    public static List<Candidate> files(List<Path> models) {
        List<Candidate> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        Set<String> clashing = new HashSet<>();
        for (Path p : models) {
            if (!seen.add(Candidate.nameOf(p))) {
                clashing.add(Candidate.nameOf(p));
            }
        }
        for (Path p : models) {
            out.add(clashing.contains(Candidate.nameOf(p)) ? Candidate.of(p.toString(), p) : Candidate.of(p));
        }
        return out;
    }
}
