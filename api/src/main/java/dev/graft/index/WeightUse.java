package dev.graft.index;

/**
 * One consumption of a weight: the node (by label), its op type, the input slot and the role that slot gives.
 * When the weight passes through {@code Identity} or {@code Cast} first, the node is the one after them.
 */
public record WeightUse(String node, String opType, int input, WeightRole role) {
}
