package dev.graft.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.exec.ProgressListener;
import java.io.PrintWriter;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** Shared output helpers: JSON for {@code --json}, a progress bar when attached to a terminal. */
final class Output {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Output() {
    }

    static void json(PrintWriter out, Object value) {
        out.println(jsonText(value));
    }

    /** {@code value} as indented JSON. */
    static String jsonText(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * A progress bar, shown only on an interactive terminal and never with {@code --json}: over tensors, or over
     * the steps of each stage (a new bar when the name told changes).
     */
    static final class Progress implements ProgressListener, AutoCloseable {
        private final String task;
        private final boolean enabled;
        private final boolean byStage;
        private String stage;
        private ProgressBar bar;

        Progress(String task, boolean json) {
            this(task, json, false);
        }

        private Progress(String task, boolean json, boolean byStage) {
            this.task = task;
            this.enabled = !json && System.console() != null;
            this.byStage = byStage;
        }

        /** One bar per stage, named by the stage ({@code Pleas}'s "matching", "fitting", "solving"). */
        static Progress stages(boolean json) {
            return new Progress(null, json, true);
        }

        @Override
        public synchronized void written(String name, int done, int total) {
            if (!enabled) {
                return;
            }
            if (byStage && !name.equals(stage)) {
                close();
                bar = null;
                stage = name;
            }
            if (bar == null) {
                bar = new ProgressBarBuilder().setTaskName(byStage ? name : task).setInitialMax(total)
                        .setStyle(ProgressBarStyle.ASCII).setUnit(byStage ? "" : " tensors", 1).build();
            }
            bar.stepTo(done);
        }

        @Override
        public synchronized void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }

    /** Human-readable byte count. */
    /** The line summing up the quantization errors of {@code MatMulNBits} weights written again (none: nothing). */
    static void requantized(PrintWriter out, java.util.List<dev.graft.plan.MergeReport.QuantizationError> errors) {
        if (errors.isEmpty()) {
            return;
        }
        java.util.DoubleSummaryStatistics e = errors.stream()
                .mapToDouble(dev.graft.plan.MergeReport.QuantizationError::relativeRms).summaryStatistics();
        out.printf(java.util.Locale.ROOT, "  quantized again: %d MatMulNBits weights, relative RMS error %.4f mean, "
                + "%.4f max%n", e.getCount(), e.getAverage(), e.getMax());
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(java.util.Locale.ROOT, "%.1f %s", v, units[u]);
    }

    /** The bytes of a model file and of its external data files. */
    static long modelBytes(java.nio.file.Path model) throws java.io.IOException {
        try (dev.graft.onnx.OnnxModel m = dev.graft.onnx.OnnxModel.open(model)) {
            long total = java.nio.file.Files.size(model);
            for (java.nio.file.Path data : m.externalDataFiles()) {
                total += java.nio.file.Files.size(data);
            }
            return total;
        }
    }
}
