package dev.graft;

/**
 * Entry point of Graft's fluent API.
 *
 * <pre>{@code
 * MergeReport report = Graft.merge()
 *     .model(Path.of("a.onnx"), 0.5)
 *     .model(Path.of("b.onnx"), 0.5)
 *     .method(new Linear())
 *     .writeTo(Path.of("soup.onnx"));
 * }</pre>
 */
public final class Graft {
    private Graft() {
    }

    /** Starts describing a rewrite of {@code model}: element type, layout, or nothing (a plain round trip). */
    public static ConvertBuilder convert(java.nio.file.Path model) {
        return new ConvertBuilder(model);
    }

    /** Starts describing a merge of models with identical structure. */
    public static MergeBuilder merge() {
        return new MergeBuilder();
    }
}
