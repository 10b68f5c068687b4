package dev.graft.eval;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * What Graft's SVG charts share: the colours of series, axis steps and labels, text escaping and writing. The
 * charts are written by hand rather than with a chart library: JFreeChart and XChart draw through AWT, which
 * needs fonts that headless build machines may lack, while SVG text is laid out by whoever views it.
 */
public final class Svg {
    static final String[] COLOURS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
        "#e377c2", "#17becf"};

    private Svg() {
    }

    /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
    static double niceStep(double raw) {
        if (!(raw > 0)) {
            return 1;
        }
        double power = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * power >= raw) {
                return m * power;
            }
        }
        return 10 * power;
    }

    /** {@code v} with as many decimals as {@code step} needs. */
    static String label(double v, double step) {
        int decimals = Math.max(0, (int) Math.ceil(-Math.log10(step) - 1e-9));
        return String.format(Locale.ROOT, "%." + decimals + "f", v);
    }

    /** {@code s} with the characters that XML and HTML give a meaning escaped. */
    public static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    /** Writes {@code svg} to {@code file} as UTF-8. */
    static void write(Path file, CharSequence svg) {
        try {
            Files.writeString(file, svg, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }
}
