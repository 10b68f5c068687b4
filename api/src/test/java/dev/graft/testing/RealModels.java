package dev.graft.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real pretrained models the build unpacks from the langchain4j artifacts on Maven Central into
 * {@code target/models} (profile {@code real-models} in the parent pom).
 */
public final class RealModels {
    private RealModels() {
    }

    public static Path bgeSmall() {
        return find("bge-small-en-v1.5.onnx");
    }

    public static Path e5Small() {
        return find("e5-small-v2.onnx");
    }

    public static Path miniLm() {
        return find("all-minilm-l6-v2.onnx");
    }

    private static Path find(String name) {
        String dir = System.getProperty("graft.models.dir", "target/models");
        Path p = Path.of(dir, name);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException(p.toAbsolutePath() + " is missing: run the build through Maven, which "
                    + "unpacks the real models from Maven Central (module needs a 'uses-real-models' file)");
        }
        return p;
    }
}
