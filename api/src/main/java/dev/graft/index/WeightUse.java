package dev.graft.index;

import java.util.List;

/**
 * One consumption of a weight: the node (by label), its op type, the input slot, the role that slot gives, and
 * the node's inputs (value names). When the weight passes through {@code Identity} or {@code Cast} first, the
 * node is the one after them.
 */
public record WeightUse(String node, String opType, int input, WeightRole role, List<String> inputs) {
    public WeightUse {
        inputs = List.copyOf(inputs);
    }

    /**
     * The value a dense layer multiplies the weight with (input 0 of the {@code MatMul} or {@code Gemm} that
     * reads the weight as its second operand), or null for any other use.
     */
    public String denseInput() {
        boolean dense = opType.equals("MatMul") || opType.equals("Gemm");
        return dense && input == 1 && !inputs.isEmpty() ? inputs.get(0) : null;
    }
}
