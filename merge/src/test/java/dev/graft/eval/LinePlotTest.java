package dev.graft.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class LinePlotTest {
    @TempDir
    Path dir;

    @Test
    void panelsAreWrittenAsWellFormedSvgWithOneLinePerSeries() throws Exception {
        Path file = dir.resolve("plot.svg");
        LinePlot.row(file, List.of(
                LinePlot.log2("MRR <by> rank", "rank", "MRR").series("a & b", new double[] {8, 16, 128},
                        new double[] {0.2, 0.3, 0.5}).series("c", new double[] {8, 64}, new double[] {0.1, 0.6})
                        .reference("original", 0.9),
                LinePlot.linear("MRR by size", "MB", "MRR").series("a", new double[] {90, 110}, new double[] {0.2, 0.4})));
        Document svg = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file.toFile());
        Element root = svg.getDocumentElement();
        assertThat(root.getTagName()).isEqualTo("svg");
        assertThat(root.getAttribute("width")).isEqualTo("880");
        NodeList lines = svg.getElementsByTagName("polyline");
        assertThat(lines.getLength()).isEqualTo(3);
        assertThat(((Element) lines.item(0)).getAttribute("points").split(" ")).hasSize(3);
        assertThat(svg.getElementsByTagName("circle").getLength()).isEqualTo(7);
        String text = root.getTextContent();
        assertThat(svg.getElementsByTagName("line").getLength()).isGreaterThan(0);
        assertThat(text).contains("original").contains("1.0"); // the axis reaches past the reference line
        assertThat(text).contains("MRR <by> rank").contains("a & b").contains("128").contains("MB");
        // on the log axis, equal ratios are equal distances: 8 → 16 is a third of 16 → 128
        String[] p = ((Element) lines.item(0)).getAttribute("points").split(" ");
        double x8 = Double.parseDouble(p[0].split(",")[0]);
        double x16 = Double.parseDouble(p[1].split(",")[0]);
        double x128 = Double.parseDouble(p[2].split(",")[0]);
        assertThat((x128 - x16) / (x16 - x8)).isBetween(2.95, 3.05);
    }

    @Test
    void badSeriesAreRefused() {
        assertThatThrownBy(() -> LinePlot.linear("t", "x", "y").series("s", new double[] {1, 2}, new double[] {1}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'s'");
        LinePlot zero = LinePlot.log2("t", "x", "y").series("s", new double[] {0, 2}, new double[] {1, 2});
        assertThatThrownBy(() -> LinePlot.row(dir.resolve("p.svg"), List.of(zero)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("logarithmic");
        assertThatThrownBy(() -> LinePlot.row(dir.resolve("p.svg"), List.of(LinePlot.linear("t", "x", "y"))))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("no series");
    }
}
