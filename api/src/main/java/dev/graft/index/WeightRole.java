package dev.graft.index;

/** What a weight does for the node that consumes it, as far as the graph shows it. */
public enum WeightRole {
    /** Right operand of {@code MatMul}: {@code [in, out]} (PyTorch exports of 3-D inputs). */
    MATMUL_WEIGHT("MatMul B [in,out]"),
    /** {@code Gemm} B with {@code transB=1}: {@code [out, in]} (PyTorch exports of 2-D inputs). */
    GEMM_WEIGHT_OUT_IN("Gemm B transB=1 [out,in]"),
    /** {@code Gemm} B with {@code transB=0}: {@code [in, out]}. */
    GEMM_WEIGHT_IN_OUT("Gemm B [in,out]"),
    /** {@code Gemm} A operand held as a weight: {@code [M,K]}, or {@code [K,M]} with {@code transA=1}. */
    GEMM_A("Gemm A"),
    /** {@code Conv} kernel {@code [out, in/groups, k...]}. */
    CONV_WEIGHT("Conv W [out,in/g,k..]"),
    /** {@code ConvTranspose} kernel {@code [in, out/groups, k...]}. */
    CONV_TRANSPOSE_WEIGHT("ConvTranspose W [in,out/g,k..]"),
    /** A bias: {@code Add} right after MatMul/Gemm/Conv, or the bias input of Gemm/Conv/ConvTranspose. */
    BIAS("bias"),
    /**
     * Scale of a normalization: LayerNormalization, BatchNormalization, RMSNorm ({@code SimplifiedLayerNormalization},
     * {@code SkipSimplifiedLayerNormalization}, or decomposed as {@code x·rsqrt(mean(x²)+ε)·w}), ..., or decomposed
     * LayerNorm.
     */
    NORM_SCALE("norm scale"),
    /** Shift of a normalization. */
    NORM_BIAS("norm bias"),
    /** BatchNormalization running mean. */
    NORM_MEAN("norm running mean"),
    /** BatchNormalization running variance. */
    NORM_VARIANCE("norm running var"),
    /** {@code Gather} table {@code [rows, dim]}: token, position or type embeddings. */
    EMBEDDING("embedding [rows,dim]"),
    /**
     * A rotary embedding's cos or sin table ({@code cos_cache}/{@code sin_cache} of {@code RotaryEmbedding} or
     * {@code GroupQueryAttention}): a constant of the architecture shared by all layers, never merged.
     */
    ROTARY_CACHE("rotary cos/sin cache"),
    /** Packed low-bit codes of a quantized weight ({@code MatMulNBits} B, {@code GatherBlockQuantized} data). */
    QUANTIZED("quantized codes"),
    /** Per-block scales of a quantized weight. */
    QUANT_SCALES("quantization scales"),
    /** Per-block zero points of a quantized weight. */
    QUANT_ZERO_POINTS("quantization zero points"),
    /**
     * The default of a LoRA input slot ({@link LoraSlots}): an adapter's factor fed per run, zero (often with no
     * elements) unless fed; not a parameter of the model, never merged.
     */
    LORA_SLOT("LoRA input slot (default)"),
    /** Not consumed in a way Graft recognises (or consumed in conflicting ways): never guessed. */
    UNKNOWN("unknown");

    private final String label;

    WeightRole(String label) {
        this.label = label;
    }

    /** True for a dense layer's weight stored {@code [in, out]} (MatMul B, Gemm B without transB). */
    public boolean storedInOut() {
        return this == MATMUL_WEIGHT || this == GEMM_WEIGHT_IN_OUT;
    }

    /** True for the parts of a quantized weight (codes, scales, zero points): not parameters in themselves. */
    public boolean quantized() {
        return this == QUANTIZED || this == QUANT_SCALES || this == QUANT_ZERO_POINTS;
    }

    /** A short label for reports, with the layout where the role implies one. */
    public String label() {
        return label;
    }
}
