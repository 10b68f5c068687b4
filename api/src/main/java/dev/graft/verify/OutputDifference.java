package dev.graft.verify;

/**
 * How far one output of a model is from the same output of a reference model on the same probe inputs:
 * {@code maxAbs = max|a−b|} and {@code maxRel = maxAbs / max|b|} (relative to the reference's largest
 * magnitude, so that near-zero entries do not blow it up).
 */
public record OutputDifference(String output, double maxAbs, double maxRel) {
}
