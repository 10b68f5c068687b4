package dev.graft.graph;

/**
 * A mixture's gate at one place of a graph: each token {@code h} (a row of the value it reads) scores expert
 * {@code e} by the logit {@code (h·W + b)[e]}; {@code W} is {@code [width, E]} row-major, {@code b} ({@code [E]}) or
 * null (mergekit's gates have none). The {@code k} largest logits are kept and softmaxed ({@link ExpertMlps}).
 */
public record TokenGate(float[] weight, float[] bias) {
    /** Where a gate reads: a value of the graph ({@code [.., width]}) and its width. */
    public record Input(String value, int width) {
    }
}
