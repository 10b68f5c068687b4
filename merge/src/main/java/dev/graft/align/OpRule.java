package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.Set;

/**
 * How one family of ONNX ops moves axes, for permutation inference: which input and output axes must be permuted
 * alike (unified), which cannot be permuted (fixed), and the output's axes. One small class per family, named by
 * the op types it follows and found by op type in {@link OpRules}; an op no rule names fixes every axis it
 * touches.
 */
abstract class OpRule {
    private final Set<String> ops;

    /** A rule for the op types {@code ops} (default domain). */
    OpRule(String... ops) {
        this.ops = Set.of(ops);
    }

    /** The op types this rule follows. */
    final Set<String> ops() {
        return ops;
    }

    /** Follows node {@code n} ({@code where} names it in reasons), reading and setting axes in {@code g}. */
    abstract void apply(NodeProto n, String where, AxisGraph g);
}
