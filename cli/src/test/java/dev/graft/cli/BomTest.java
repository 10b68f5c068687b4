package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * {@code graft-bom} (which has no parent, so that importing it pins nothing but Graft) is at the project's version and
 * lists every published module: each module of the build but the BOM itself, the examples and the benchmarks. The
 * examples are a plain project on that BOM (no parent) at the project's version, whose own versions of what the build
 * also pins (plugins, test libraries, the real models) are the build's.
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

    /** The {@code <version>} of each plugin in {@code project/build/pluginManagement}, by artifact id. */
    private static Map<String, String> pluginVersions(Element project) {
        Map<String, String> versions = new TreeMap<>();
        Element management = (Element) project.getElementsByTagName("pluginManagement").item(0);
        NodeList plugins = management.getElementsByTagName("plugin");
        for (int i = 0; i < plugins.getLength(); i++) {
            Element p = (Element) plugins.item(i);
            versions.put(child(p, "artifactId"), child(p, "version"));
        }
        return versions;
    }

    @Test
    void theExamplesAreAPlainProjectOnTheBomWithTheBuildsVersions() throws Exception {
        Element parent = read(ROOT.resolve("pom.xml")).getDocumentElement();
        Element examples = read(ROOT.resolve("examples/pom.xml")).getDocumentElement();
        assertThat(child(examples, "parent")).isNull();
        assertThat(child(examples, "version")).isEqualTo(child(parent, "version"));
        Element imported = (Element) ((Element) examples.getElementsByTagName("dependencyManagement").item(0))
                .getElementsByTagName("dependency").item(0);
        assertThat(List.of(child(imported, "artifactId"), child(imported, "version"), child(imported, "scope")))
                .containsExactly("graft-bom", "${project.version}", "import");
        Element own = (Element) examples.getElementsByTagName("properties").item(0);
        Element build = (Element) parent.getElementsByTagName("properties").item(0);
        int shared = 0;
        for (Node n = own.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && child(build, e.getTagName()) != null) {
                assertThat(e.getTextContent().strip()).as(e.getTagName()).isEqualTo(child(build, e.getTagName()));
                shared++;
            }
        }
        assertThat(shared).isGreaterThanOrEqualTo(10); // release, encoding, timestamp, test libraries, models, ...
        Map<String, String> buildPlugins = pluginVersions(parent);
        pluginVersions(examples).forEach((plugin, version) ->
                assertThat(version).as(plugin).isEqualTo(buildPlugins.get(plugin)));
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
