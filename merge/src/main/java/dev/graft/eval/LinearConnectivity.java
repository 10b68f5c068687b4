package dev.graft.eval;

import dev.graft.GraftIoException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.Graft;
import dev.graft.InvalidSettingException;
import dev.graft.merge.Linear;
import dev.graft.onnx.TemporaryFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Linear mode connectivity (Frankle et al., <i>Linear Mode Connectivity and the Lottery Ticket Hypothesis</i>,
 * ICML 2020; Entezari et al., ICLR 2022): a metric along {@code θ(λ) = (1−λ)·θ_A + λ·θ_B} at evenly spaced
 * {@code λ}, for B as it is (naive) and B aligned to A. The barrier is the largest shortfall of the path from
 * the straight line between its ends, {@code max_λ [(1−λ)·m_A + λ·m_B − m(λ)]} for a metric where higher is
 * better (the loss barrier with the sign turned for losses); near 0 means the two models sit in one basin.
 * Each point is a real model, written by a linear merge and scored by an {@link Evaluator}.
 */
public final class LinearConnectivity {
    /** One interpolated model's score. */
    public record Point(double lambda, double value) {
    }

    /** A path: its points and barrier. */
    public record Curve(String name, List<Point> points, double barrier) {
    }

    /** The measurement: the naive path, and the aligned one when B was aligned. */
    public record Report(String metric, boolean higherIsBetter, String modelA, String modelB, Curve naive,
                         Curve aligned) {
    }

    private LinearConnectivity() {
    }

    /**
     * Scores {@code points} evenly spaced models from A to B, and from A to {@code alignedB} if not null.
     * Models are written to the system's temporary folder and deleted as soon as they are scored.
     *
     * @throws InvalidSettingException if {@code points} is less than 2
     */
    public static Report measure(Path a, Path b, Path alignedB, int points, Evaluator evaluator) {
        if (points < 2) {
            throw new InvalidSettingException("a path needs at least 2 points, got " + points);
        }
        Curve naive = curve("naive", a, b, points, evaluator);
        Curve aligned = alignedB == null ? null : curve("aligned", a, alignedB, points, evaluator);
        return new Report(evaluator.name(), evaluator.higherIsBetter(), a.toString(), b.toString(), naive, aligned);
    }

    private static Curve curve(String name, Path a, Path b, int points, Evaluator evaluator) {
        try (TemporaryFolder folder = TemporaryFolder.create("graft-lmc")) {
            List<Point> out = new ArrayList<>();
            for (int k = 0; k < points; k++) {
                double lambda = (double) k / (points - 1);
                Path model = folder.resolve("point-" + k + ".onnx");
                Graft.merge().model(a, 1 - lambda).model(b, lambda).method(new Linear()).diagnostics(false)
                        .sync(false).writeTo(model);
                out.add(new Point(lambda, evaluator.evaluate(model)));
                try {
                    Files.delete(model);
                } catch (IOException e) {
                    throw new GraftIoException(model, "deleted", e);
                }
            }
            return new Curve(name, out, barrier(out, evaluator.higherIsBetter()));
        }
    }

    /** {@code max_λ} of the shortfall from the line between the ends, in the metric's "better" direction. */
    static double barrier(List<Point> points, boolean higherIsBetter) {
        double first = points.get(0).value();
        double last = points.get(points.size() - 1).value();
        double worst = 0;
        for (Point p : points) {
            double line = (1 - p.lambda()) * first + p.lambda() * last;
            double shortfall = higherIsBetter ? line - p.value() : p.value() - line;
            worst = Math.max(worst, shortfall);
        }
        return worst;
    }

    /** Writes the report as JSON. */
    public static void writeJson(Report r, Path file) {
        try {
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), r);
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    /** Writes a line chart of the paths (SVG): the metric against λ, with each path's barrier in the legend. */
    public static void writeSvg(Report r, Path file) {
        int width = 640;
        int height = 400;
        int left = 70;
        int right = 20;
        int top = 70;
        int bottom = 50;
        List<Curve> curves = new ArrayList<>();
        curves.add(r.naive());
        if (r.aligned() != null) {
            curves.add(r.aligned());
        }
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (Curve c : curves) {
            for (Point p : c.points()) {
                min = Math.min(min, p.value());
                max = Math.max(max, p.value());
            }
        }
        if (max - min < 1e-12) {
            max = min + 1;
        }
        double pad = (max - min) * 0.05;
        double lo = min - pad;
        double hi = max + pad;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"12\">%n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%n",
                width, height));
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"22\" font-size=\"14\">%s along (1-λ)·A + λ·B</text>%n",
                left, escape(r.metric())));
        int plotW = width - left - right;
        int plotH = height - top - bottom;
        svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#888\"/>%n", left, top, plotW, plotH));
        for (int t = 0; t <= 4; t++) {
            double v = lo + (hi - lo) * t / 4;
            double y = top + plotH - plotH * t / 4.0;
            double x = left + plotW * t / 4.0;
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>%n",
                    left - 6, y + 4, v));
            svg.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.2f</text>%n",
                    x, top + plotH + 18, t / 4.0));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">λ</text>%n",
                left + plotW / 2, height - 10));
        String[] colours = {"#c0392b", "#2471a3"};
        for (int c = 0; c < curves.size(); c++) {
            Curve curve = curves.get(c);
            StringBuilder path = new StringBuilder();
            for (Point p : curve.points()) {
                double x = left + plotW * p.lambda();
                double y = top + plotH * (hi - p.value()) / (hi - lo);
                path.append(path.length() == 0 ? "M" : " L").append(String.format(Locale.ROOT, "%.1f %.1f", x, y));
            }
            svg.append(String.format(Locale.ROOT, "<path d=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                    path, colours[c]));
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s (barrier %.4g)</text>%n",
                    left + 220 * c, 46, colours[c], curve.name(), curve.barrier())); // the legend, above the plot
        }
        svg.append("</svg>\n");
        try {
            Files.writeString(file, svg.toString());
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
