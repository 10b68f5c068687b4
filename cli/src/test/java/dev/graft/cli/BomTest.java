package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * {@code graft-bom} (which has no parent, so that importing it pins nothing but Graft) is at the project's version and
 * lists every published module: each module of the build but the BOM itself, the examples and the benchmarks.
 */
class BomTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

    private static Document read(Path pom) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile());
    }

    /** The text of {@code project/<name>} (a direct child, not a parent's or a dependency's). */
    private static String child(Element e, String name) {
        for (Node n = e.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element c && c.getTagName().equals(name)) {
                return c.getTextContent().strip();
            }
        }
        return null;
    }

    @Test
    void theBomListsEveryPublishedModuleAtTheProjectsVersion() throws Exception {
        Element parent = read(ROOT.resolve("pom.xml")).getDocumentElement();
        Element bom = read(ROOT.resolve("bom/pom.xml")).getDocumentElement();
        assertThat(child(bom, "version")).isEqualTo(child(parent, "version"));
        assertThat(child(bom, "parent")).isNull();
        List<String> published = new ArrayList<>();
        NodeList modules = parent.getElementsByTagName("module");
        for (int i = 0; i < modules.getLength(); i++) {
            String folder = modules.item(i).getTextContent().strip();
            String artifact = child(read(ROOT.resolve(folder).resolve("pom.xml")).getDocumentElement(), "artifactId");
            if (!List.of("graft-bom", "graft-examples", "graft-bench").contains(artifact)) {
                published.add(artifact);
            }
        }
        List<String> listed = new ArrayList<>();
        NodeList deps = bom.getElementsByTagName("dependency");
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            assertThat(child(d, "groupId")).isEqualTo("dev.graft");
            assertThat(child(d, "version")).isEqualTo("${project.version}");
            listed.add(child(d, "artifactId"));
        }
        assertThat(listed).containsExactlyInAnyOrderElementsOf(published);
    }
}
