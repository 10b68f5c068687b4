package dev.graft.eval;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The scores of an {@link Evaluation}: {@code scores[model][task]}, and for each task its own fine-tuned model's
 * score (NaN where the task names none). The average of a model is over the tasks whose metric is better when
 * higher (accuracy, MRR, similarity; losses and perplexities are not averaged with them); its normalized score on a
 * task is its score divided by the task's fine-tuned model's (FusionBench's normalized accuracy), defined for those
 * tasks only.
 *
 * @param tasks     task names, in order
 * @param metrics   each task's metric
 * @param models    model names, in order
 * @param scores    {@code scores[model][task]}
 * @param fineTuned each task's fine-tuned model's score, or NaN
 */
public record EvaluationReport(List<String> tasks, List<Metric> metrics, List<String> models, double[][] scores,
                               double[] fineTuned) {
    /** The score of model {@code m} on task {@code t}. */
    public double score(int m, int t) {
        return scores[m][t];
    }

    /** {@code score(m, t)} divided by the task's fine-tuned model's score, or NaN where that is undefined. */
    public double normalized(int m, int t) {
        return metrics.get(t).higherIsBetter() && fineTuned[t] > 0 ? scores[m][t] / fineTuned[t] : Double.NaN;
    }

    /** The mean of model {@code m}'s scores on the tasks whose metric is better when higher (NaN if none). */
    public double average(int m) {
        return mean(m, false);
    }

    /** The mean of model {@code m}'s normalized scores, over the tasks that have them (NaN if none). */
    public double normalizedAverage(int m) {
        return mean(m, true);
    }

    private double mean(int m, boolean normalized) {
        double sum = 0;
        int n = 0;
        for (int t = 0; t < tasks.size(); t++) {
            double v = normalized ? normalized(m, t) : metrics.get(t).higherIsBetter() ? scores[m][t] : Double.NaN;
            if (!Double.isNaN(v)) {
                sum += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    private boolean hasNormalized() {
        for (int t = 0; t < tasks.size(); t++) {
            if (!Double.isNaN(normalized(0, t))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The models × tasks table as Markdown (readable as text): each task's score with its metric in the header,
     * then the average and, where tasks name their fine-tuned models, the normalized average.
     */
    public String table() {
        boolean normalized = hasNormalized();
        StringBuilder md = new StringBuilder("| model |");
        for (int t = 0; t < tasks.size(); t++) {
            md.append(' ').append(tasks.get(t).replace("|", "\\|")).append(" (").append(metrics.get(t).displayName())
                    .append(") |");
        }
        md.append(" average |").append(normalized ? " normalized |" : "").append("\n|---|");
        md.append("---:|".repeat(tasks.size() + 1 + (normalized ? 1 : 0))).append('\n');
        for (int m = 0; m < models.size(); m++) {
            md.append("| ").append(models.get(m).replace("|", "\\|")).append(" |");
            for (int t = 0; t < tasks.size(); t++) {
                md.append(' ').append(format(scores[m][t])).append(" |");
            }
            md.append(' ').append(format(average(m))).append(" |");
            if (normalized) {
                md.append(' ').append(format(normalizedAverage(m))).append(" |");
            }
            md.append('\n');
        }
        return md.toString();
    }

    private static String format(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, Math.abs(v) >= 100 ? "%.1f" : "%.3f", v);
    }

    /** The report as JSON: each task (name, metric, fine-tuned score) and each model's scores. */
    public String json() {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode root = mapper.createObjectNode();
        ArrayNode taskNodes = root.putArray("tasks");
        for (int t = 0; t < tasks.size(); t++) {
            ObjectNode n = taskNodes.addObject().put("name", tasks.get(t)).put("metric", metrics.get(t).displayName())
                    .put("higher_is_better", metrics.get(t).higherIsBetter());
            number(n, "fine_tuned_score", fineTuned[t]);
        }
        ArrayNode modelNodes = root.putArray("models");
        for (int m = 0; m < models.size(); m++) {
            ObjectNode n = modelNodes.addObject().put("name", models.get(m));
            ObjectNode s = n.putObject("scores");
            ObjectNode z = n.putObject("normalized");
            for (int t = 0; t < tasks.size(); t++) {
                number(s, tasks.get(t), scores[m][t]);
                number(z, tasks.get(t), normalized(m, t));
            }
            number(n, "average", average(m));
            number(n, "normalized_average", normalizedAverage(m));
        }
        try {
            return mapper.writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void number(ObjectNode node, String key, double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            node.putNull(key);
        } else {
            node.put(key, v);
        }
    }

    /**
     * A grouped bar chart (SVG): per task that is better when higher, and for the average, one bar per model;
     * normalized scores where every such task has a fine-tuned model, else the scores.
     */
    public String svg() {
        List<Integer> shown = new ArrayList<>();
        boolean allNormalized = true;
        for (int t = 0; t < tasks.size(); t++) {
            if (metrics.get(t).higherIsBetter()) {
                shown.add(t);
                allNormalized &= !Double.isNaN(normalized(0, t));
            }
        }
        List<String> categories = new ArrayList<>();
        shown.forEach(t -> categories.add(tasks.get(t)));
        categories.add("average");
        double[][] values = new double[models.size()][categories.size()];
        for (int m = 0; m < models.size(); m++) {
            for (int k = 0; k < shown.size(); k++) {
                values[m][k] = allNormalized ? normalized(m, shown.get(k)) : scores[m][shown.get(k)];
            }
            values[m][shown.size()] = allNormalized ? normalizedAverage(m) : average(m);
        }
        return BarChart.svg(allNormalized ? "normalized score (1 = the task's fine-tuned model)" : "score per task",
                allNormalized ? "normalized score" : "score", categories, models, values);
    }

    /** Writes {@link #svg} to {@code file}. */
    public void writeSvg(Path file) {
        Svg.write(file, svg());
    }
}
