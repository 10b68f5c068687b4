package dev.graft.eval;

import java.util.List;
import java.util.Locale;

/**
 * A grouped bar chart as SVG: one group per category (a task), one bar per series (a model) in each, a legend
 * of the series, and a y axis from 0.
 */
public final class BarChart {
    private static final int HEIGHT = 340;
    private static final int LEFT = 56;
    private static final int RIGHT = 16;
    private static final int TOP = 30;
    private static final int BOTTOM = 64;
    private static final int BAR = 14;
    private static final int GAP = 18;
    private static final int LEGEND = 170;

    private BarChart() {
    }

    /** The chart of {@code values[series][category]} (NaN: no bar). */
    public static String svg(String title, String yLabel, List<String> categories, List<String> series, double[][] values) {
        double top = 0;
        for (double[] row : values) {
            for (double v : row) {
                top = Double.isNaN(v) ? top : Math.max(top, v);
            }
        }
        double step = Svg.niceStep(Math.max(top, 1e-9) / 5);
        top = Math.max(Math.ceil(top / step) * step, step);
        int groupWidth = series.size() * BAR + GAP;
        int w = categories.size() * groupWidth + GAP;
        int h = HEIGHT - TOP - BOTTOM;
        int width = LEFT + w + RIGHT + LEGEND;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"11\">%n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n",
                width, HEIGHT, width, HEIGHT));
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">%s"
                + "</text>%n", LEFT + w / 2, Svg.escape(title)));
        for (double y = 0; y <= top + step / 2; y += step) {
            double py = TOP + h * (1 - y / top);
            svg.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", LEFT, LEFT + w, py, py, LEFT - 4,
                    py + 4, Svg.label(y, step)));
        }
        svg.append(String.format(Locale.ROOT, "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">"
                + "%s</text>%n", TOP + h / 2, Svg.escape(yLabel)));
        for (int c = 0; c < categories.size(); c++) {
            int x0 = LEFT + GAP + c * groupWidth;
            for (int s = 0; s < series.size(); s++) {
                double v = values[s][c];
                if (Double.isNaN(v)) {
                    continue;
                }
                double barHeight = h * v / top;
                svg.append(String.format(Locale.ROOT, "<rect class=\"bar\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
                        + "height=\"%.1f\" fill=\"%s\"><title>%s, %s: %.4f</title></rect>%n", x0 + s * BAR, TOP + h - barHeight,
                        BAR - 2, barHeight, Svg.COLOURS[s % Svg.COLOURS.length], Svg.escape(series.get(s)),
                        Svg.escape(categories.get(c)), v));
            }
            svg.append(String.format(Locale.ROOT, "<text transform=\"translate(%d,%d) rotate(-25)\" "
                    + "text-anchor=\"end\">%s</text>%n", x0 + series.size() * BAR / 2, TOP + h + 14,
                    Svg.escape(categories.get(c))));
        }
        svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                + "stroke=\"#444\"/>%n", LEFT, TOP, w, h));
        for (int s = 0; s < series.size(); s++) {
            int ly = TOP + 10 + 16 * s;
            int lx = LEFT + w + 12;
            svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                    + "<text x=\"%d\" y=\"%d\">%s</text>%n", lx, ly - 9, Svg.COLOURS[s % Svg.COLOURS.length], lx + 14,
                    ly, Svg.escape(series.get(s))));
        }
        return svg.append("</svg>\n").toString();
    }
}
