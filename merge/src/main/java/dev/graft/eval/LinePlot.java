package dev.graft.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A line chart of evaluation results (quality against rank or size), written as SVG: one panel per plot, with
 * axes, ticks, a legend, one polyline with markers per series and dashed reference lines; {@link #row} puts panels side by side in one
 * file.
 */
public final class LinePlot {
    private static final int WIDTH = 440;
    private static final int HEIGHT = 320;
    private static final int LEFT = 56;
    private static final int RIGHT = 16;
    private static final int TOP = 30;
    private static final int BOTTOM = 44;

    /** One line: its name in the legend and its points (x ascending). */
    public record Series(String name, double[] x, double[] y) {
        public Series {
            if (x.length != y.length || x.length == 0) {
                throw new IllegalArgumentException("series '" + name + "' needs as many x as y values, and some");
            }
        }
    }

    private final String title;
    private final String xLabel;
    private final String yLabel;
    private final boolean logX;
    private final List<Series> series = new ArrayList<>();
    private final List<Map.Entry<String, Double>> references = new ArrayList<>();

    private LinePlot(String title, String xLabel, String yLabel, boolean logX) {
        this.title = title;
        this.xLabel = xLabel;
        this.yLabel = yLabel;
        this.logX = logX;
    }

    /** A panel with a linear x axis. */
    public static LinePlot linear(String title, String xLabel, String yLabel) {
        return new LinePlot(title, xLabel, yLabel, false);
    }

    /** A panel with a base-2 logarithmic x axis (ranks); x values must be positive. */
    public static LinePlot log2(String title, String xLabel, String yLabel) {
        return new LinePlot(title, xLabel, yLabel, true);
    }

    /** Adds a line. */
    public LinePlot series(String name, double[] x, double[] y) {
        series.add(new Series(name, x.clone(), y.clone()));
        return this;
    }

    /** Adds a dashed horizontal line at {@code y}, labelled (the original model's score, say). */
    public LinePlot reference(String name, double y) {
        references.add(Map.entry(name, y));
        return this;
    }

    /** Writes {@code plots} side by side as one SVG file. */
    public static void row(Path file, List<LinePlot> plots) {
        Svg.write(file, svg(plots));
    }

    /** {@code plots} side by side as one SVG document. */
    public static String svg(List<LinePlot> plots) {
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"11\">%n", WIDTH * plots.size(), HEIGHT));
        svg.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n",
                WIDTH * plots.size(), HEIGHT));
        for (int p = 0; p < plots.size(); p++) {
            svg.append(String.format(Locale.ROOT, "<g transform=\"translate(%d,0)\">%n", p * WIDTH));
            plots.get(p).panel(svg);
            svg.append("</g>\n");
        }
        svg.append("</svg>\n");
        return svg.toString();
    }

    private void panel(StringBuilder svg) {
        if (series.isEmpty()) {
            throw new IllegalStateException("plot '" + title + "' has no series");
        }
        double x0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (int i = 0; i < s.x().length; i++) {
                if (logX && !(s.x()[i] > 0)) {
                    throw new IllegalArgumentException("series '" + s.name() + "' has x = " + s.x()[i]
                            + " on a logarithmic axis");
                }
                x0 = Math.min(x0, axis(s.x()[i]));
                x1 = Math.max(x1, axis(s.x()[i]));
                y0 = Math.min(y0, s.y()[i]);
                y1 = Math.max(y1, s.y()[i]);
            }
        }
        for (Map.Entry<String, Double> r : references) {
            y0 = Math.min(y0, r.getValue());
            y1 = Math.max(y1, r.getValue());
        }
        double yStep = Svg.niceStep((y1 - y0) / 5);
        y0 = Math.floor(y0 / yStep) * yStep;
        y1 = Math.max(Math.ceil(y1 / yStep) * yStep, y0 + yStep);
        double xStep = logX ? 1 : Svg.niceStep((x1 - x0) / 5);
        x0 = Math.floor(x0 / xStep) * xStep;
        x1 = Math.max(Math.ceil(x1 / xStep) * xStep, x0 + xStep);
        int w = WIDTH - LEFT - RIGHT;
        int h = HEIGHT - TOP - BOTTOM;
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">%s"
                + "</text>%n", WIDTH / 2, Svg.escape(title)));
        svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#444\"/>%n", LEFT, TOP, w, h));
        for (double y = y0; y <= y1 + yStep / 2; y += yStep) {
            double py = TOP + h * (1 - (y - y0) / (y1 - y0));
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", LEFT, LEFT + w, py, py, LEFT - 4,
                    py + 4, Svg.label(y, yStep)));
        }
        for (double x = x0; x <= x1 + xStep / 2; x += xStep) {
            double px = LEFT + w * (x - x0) / (x1 - x0);
            svg.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", px, px, TOP, TOP + h, px,
                    TOP + h + 14, logX ? Svg.label(Math.pow(2, x), 1) : Svg.label(x, xStep)));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
                LEFT + w / 2, HEIGHT - 8, Svg.escape(xLabel)));
        svg.append(String.format(Locale.ROOT, "<text transform=\"translate(14,%d) rotate(-90)\" "
                + "text-anchor=\"middle\">%s</text>%n", TOP + h / 2, Svg.escape(yLabel)));
        int legendWidth = 20 + (int) (6.2 * series.stream().mapToInt(x -> x.name().length()).max().orElse(0));
        for (Map.Entry<String, Double> r : references) {
            double py = TOP + h * (1 - (r.getValue() - y0) / (y1 - y0));
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" "
                    + "stroke-dasharray=\"5,3\"/><text x=\"%d\" y=\"%.1f\" fill=\"#555\">%s</text>%n", LEFT, LEFT + w,
                    py, py, LEFT + 4, py + 13, Svg.escape(r.getKey()))); // below the line, at the left: off the legend
        }
        for (int k = 0; k < series.size(); k++) {
            Series s = series.get(k);
            String colour = Svg.COLOURS[k % Svg.COLOURS.length];
            StringBuilder points = new StringBuilder();
            for (int i = 0; i < s.x().length; i++) {
                double px = LEFT + w * (axis(s.x()[i]) - x0) / (x1 - x0);
                double py = TOP + h * (1 - (s.y()[i] - y0) / (y1 - y0));
                points.append(String.format(Locale.ROOT, "%.1f,%.1f ", px, py));
                svg.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n", px,
                        py, colour));
            }
            svg.append(String.format(Locale.ROOT, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                    + "stroke-width=\"1.5\"/>%n", points.toString().strip(), colour));
            // the legend sits in the lower right corner, where curves of quality against cost rarely go
            int ly = TOP + h - 8 - 14 * (series.size() - 1 - k);
            int lx = LEFT + w - 8 - legendWidth;
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                    + "stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">%s</text>%n", lx, lx + 16, ly - 4, ly - 4,
                    colour, lx + 20, ly, Svg.escape(s.name())));
        }
    }

    private double axis(double x) {
        return logX ? Math.log(x) / Math.log(2) : x;
    }
}
