package dev.graft.search;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A searched candidate as the recipe that merges it: {@code task_arithmetic} from the base with each fine-tune's
 * {@code weight} its coefficients ({@code θ₀ + Σ_t w_t·τ_t}, λ 1, not normalized). Task-wise, a number per model;
 * finer, one {@code {filter, value}} per mixed tensor, the filters being the tensors' full names, longest first (a
 * filter matches the tensors whose names contain it and the first match wins, so a name that is part of a longer
 * one never takes the longer one's value), then {@code {value: 0}}. {@code graft merge} re-runs it.
 */
public final class SearchRecipe {
    private SearchRecipe() {
    }

    /** The recipe text for candidate {@code c} of {@code model}, its paths relative to {@code folder}. */
    public static String yaml(CoefficientModel model, List<Path> fineTunes, double[] c, Path folder) {
        CoefficientBlocks blocks = model.blocks();
        StringBuilder y = new StringBuilder();
        y.append("# a coefficient search's best candidate (").append(blocks.granularity().name().toLowerCase(Locale.ROOT))
                .append("-wise): θ₀ + Σ weight·(θ_t − θ₀)\n");
        y.append("merge_method: task_arithmetic\n");
        y.append("base_model: ").append(quote(relative(folder, model.base()))).append('\n');
        y.append("parameters: {lambda: 1.0, normalize: false}\n");
        y.append("models:\n");
        List<Map.Entry<String, Integer>> tensors = new ArrayList<>(blocks.blockOf().entrySet());
        tensors.sort(Comparator.comparingInt((Map.Entry<String, Integer> e) -> -e.getKey().length())
                .thenComparing(Map.Entry::getKey));
        for (int t = 0; t < fineTunes.size(); t++) {
            y.append("  - model: ").append(quote(relative(folder, fineTunes.get(t)))).append('\n');
            if (blocks.granularity() == CoefficientBlocks.Granularity.TASK) {
                y.append("    parameters: {weight: ").append(number(c[t])).append("}\n");
                continue;
            }
            y.append("    parameters:\n      weight:\n");
            for (Map.Entry<String, Integer> e : tensors) {
                y.append("        - {filter: ").append(quote(e.getKey())).append(", value: ")
                        .append(number(c[t * blocks.size() + e.getValue()])).append("}\n");
            }
            y.append("        - {value: 0.0}\n");
        }
        return y.toString();
    }

    /** Writes {@link #yaml} to {@code file}. */
    public static void write(CoefficientModel model, List<Path> fineTunes, double[] c, Path file) {
        Path folder = file.toAbsolutePath().getParent();
        try {
            Files.writeString(file, yaml(model, fineTunes, c, folder));
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    private static String relative(Path folder, Path p) {
        return folder.relativize(p.toAbsolutePath().normalize()).toString();
    }

    /** A double-quoted YAML (and JSON) string. */
    private static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                q.append('\\').append(ch);
            } else if (ch < 0x20) {
                q.append(String.format(Locale.ROOT, "\\u%04x", (int) ch));
            } else {
                q.append(ch);
            }
        }
        return q.append('"').toString();
    }

    /** The shortest decimal that reads back as {@code v}. */
    private static String number(double v) {
        return Double.toString(v);
    }
}
