package dev.graft.onnx;

import java.util.Objects;
import java.util.function.Supplier;

/**
 * How {@link OnnxWriter} lays out a model. By default weights are external if the template's were, and inline
 * unless they total more than {@link #DEFAULT_EXTERNAL_ABOVE} bytes otherwise; external weights go to one data
 * file beside the model, {@code <model file name>.data} (or {@code _data}, when the template's data file was
 * named so, as Optimum's {@code model.onnx_data}): tensors under {@value #DEFAULT_INLINE_BELOW} bytes stay
 * inline (as in the {@code onnx} package), tensors of at least 1 MiB start at a multiple of 64 KiB (the
 * {@code onnx} package's alignment, so they can be memory-mapped on any platform), and every entry has its
 * {@code offset} and {@code length} written.
 */
public record WriteOptions(Layout layout, long externalAbove, long inlineBelow, Supplier<Provenance> provenance,
                           boolean sync) {
    /** Total weight bytes above which {@link Layout#AUTO} chooses external data: 1 GiB. */
    public static final long DEFAULT_EXTERNAL_ABOVE = 1L << 30;
    /** In external layout, tensors smaller than this stay inline. */
    public static final long DEFAULT_INLINE_BELOW = 1024;
    /** Tensors at least this large are aligned in the data file. */
    static final long ALIGN_ABOVE = 1L << 20;
    /** Alignment of large tensors in the data file. */
    static final long ALIGNMENT = 1L << 16;

    /** Where weights go. */
    public enum Layout {
        /** External if the template's weights were, else inline unless the weights total more than the threshold. */
        AUTO,
        /** All weights inside the model file (at most 2 GiB in all). */
        INLINE,
        /** Weights of at least {@link #inlineBelow()} bytes in one external data file. */
        EXTERNAL
    }

    public WriteOptions {
        Objects.requireNonNull(layout, "layout");
    }

    /** Automatic layout, no provenance, files synced to disk before they are moved into place. */
    public static WriteOptions defaults() {
        return new WriteOptions(Layout.AUTO, DEFAULT_EXTERNAL_ABOVE, DEFAULT_INLINE_BELOW, null, true);
    }

    public WriteOptions withLayout(Layout l) {
        return new WriteOptions(l, externalAbove, inlineBelow, provenance, sync);
    }

    public WriteOptions withProvenance(Provenance p) {
        return withProvenance(() -> p);
    }

    /**
     * Provenance asked for only after the weights are written ({@code metadata_props} are written last), so
     * that input hashes can be computed while the weights are copied.
     */
    public WriteOptions withProvenance(Supplier<Provenance> p) {
        return new WriteOptions(layout, externalAbove, inlineBelow, p, sync);
    }

    /** In external layout, keep tensors smaller than {@code bytes} inline (0: every tensor external). */
    public WriteOptions withInlineBelow(long bytes) {
        return new WriteOptions(layout, externalAbove, bytes, provenance, sync);
    }

    public WriteOptions withSync(boolean s) {
        return new WriteOptions(layout, externalAbove, inlineBelow, provenance, s);
    }
}
