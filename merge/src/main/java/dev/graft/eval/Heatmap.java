package dev.graft.eval;

import java.util.List;
import java.util.Locale;

/**
 * A heatmap as SVG: one row per {@code rows} entry, one column per {@code columns} entry, each cell coloured by
 * its value on a scale from {@code low} to {@code high} (a sequential scale from white to blue, or, when
 * {@code low < 0 < high}, a diverging one from red through white to blue), with the value written in the cell
 * and as its tooltip; a missing value is a grey cell. A colour bar beside it gives the scale.
 */
public final class Heatmap {
    private static final int CELL_W = 64;
    private static final int CELL_H = 20;
    private static final int TOP = 48;
    private static final int BAR = 90;

    private Heatmap() {
    }

    /** The heatmap of {@code values[row][column]} (null: a grey cell) on the scale from {@code low} to {@code high}. */
    public static String svg(String title, List<String> rows, List<String> columns, Double[][] values, double low,
                      double high) {
        int left = 12 + 7 * rows.stream().mapToInt(String::length).max().orElse(4);
        int cell = Math.max(CELL_W, 12 + 7 * columns.stream().mapToInt(String::length).max().orElse(4));
        int bh = Math.max(CELL_H * rows.size(), 60);
        int width = Math.max(left + cell * columns.size() + BAR, left + 12 + 7 * title.length());
        int height = TOP + bh + 12;
        StringBuilder svg = new StringBuilder();
        svg.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                + "font-family=\"sans-serif\" font-size=\"11\">%n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n"
                + "<text x=\"%d\" y=\"16\" font-size=\"13\">%s</text>%n", width, height, width, height, left,
                Svg.escape(title)));
        for (int c = 0; c < columns.size(); c++) {
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n",
                    left + c * cell + cell / 2, TOP - 8, Svg.escape(columns.get(c))));
        }
        for (int r = 0; r < rows.size(); r++) {
            int y = TOP + r * CELL_H;
            svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>%n",
                    left - 6, y + CELL_H - 6, Svg.escape(rows.get(r))));
            for (int c = 0; c < columns.size(); c++) {
                Double v = values[r][c];
                int x = left + c * cell;
                String text = v == null ? "–" : String.format(Locale.ROOT, "%.3f", v);
                svg.append(String.format(Locale.ROOT, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" "
                        + "height=\"%d\" fill=\"%s\" stroke=\"white\"><title>%s, %s: %s</title></rect>"
                        + "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%s</text>%n", x, y, cell,
                        CELL_H, v == null ? "#ccc" : colour(v, low, high), Svg.escape(rows.get(r)),
                        Svg.escape(columns.get(c)), text, x + cell / 2, y + CELL_H - 6,
                        v != null && strength(v, low, high) > 0.6 ? "white" : "#222", text));
            }
        }
        int bx = left + cell * columns.size() + 16;
        int steps = 20;
        for (int k = 0; k < steps; k++) {
            double v = high - (high - low) * (k + 0.5) / steps;
            svg.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%.1f\" width=\"14\" height=\"%.1f\" "
                    + "fill=\"%s\"/>%n", bx, TOP + bh * k / (double) steps, bh / (double) steps + 0.5,
                    colour(v, low, high)));
        }
        svg.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\">%s</text>%n",
                bx + 18, TOP + 8, label(high), bx + 18, TOP + bh,
                label(low)));
        svg.append("</svg>\n");
        return svg.toString();
    }

    private static String label(double v) {
        double a = Math.abs(v);
        return String.format(Locale.ROOT, a >= 10 ? "%.0f" : a >= 0.01 || a == 0 ? "%.2f" : "%.1e", v);
    }

    /** How far {@code v} is from the scale's neutral point, in [0, 1]. */
    private static double strength(double v, double low, double high) {
        double t = (Math.max(low, Math.min(high, v)) - low) / (high - low);
        return low < 0 && high > 0 ? Math.abs(2 * t - 1) : t;
    }

    private static String colour(double v, double low, double high) {
        double t = (Math.max(low, Math.min(high, v)) - low) / (high - low);
        int[] white = {255, 255, 255};
        int[] blue = {33, 102, 172};
        int[] red = {178, 24, 43};
        int[] from = white;
        int[] to = blue;
        double s = t;
        if (low < 0 && high > 0) {
            s = Math.abs(2 * t - 1);
            to = t < 0.5 ? red : blue;
        }
        return String.format(Locale.ROOT, "#%02x%02x%02x", mix(from[0], to[0], s), mix(from[1], to[1], s),
                mix(from[2], to[2], s));
    }

    private static int mix(int a, int b, double s) {
        return (int) Math.round(a + (b - a) * s);
    }
}
