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

    /** Starts describing a merge of models with identical structure. */
    public static MergeBuilder merge() {
        return new MergeBuilder();
    }
}
