package dev.graft.adapters;

/**
 * The scale LoRA applies to its update, {@code ΔW = s·B·A} with {@code B [out,r]} and {@code A [r,in]}:
 * {@code s = α/r} (Hu et al., <i>LoRA: Low-Rank Adaptation of Large Language Models</i>, ICLR 2022), or
 * {@code s = α/√r} with rank-stabilised LoRA (Kalajdzievski, <i>A Rank Stabilization Scaling Factor for
 * Fine-Tuning with LoRA</i>, 2023), as PEFT's {@code use_rslora}. It must be folded in exactly once.
 */
public final class LoraScale {
    private LoraScale() {
    }

    /**
     * @param alpha  {@code lora_alpha}
     * @param rank   {@code r}, positive
     * @param rslora {@code use_rslora}
     */
    public static double of(double alpha, int rank, boolean rslora) {
        if (rank <= 0) {
            throw new IllegalArgumentException("LoRA rank must be positive, got " + rank);
        }
        return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }
}
