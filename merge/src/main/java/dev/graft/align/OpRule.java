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
    private final String domain;
    private final Set<String> ops;

    /** A rule for the op types {@code ops} of ONNX's own domain. */
    OpRule(String... ops) {
        this("", Set.of(ops));
    }

    /** A rule for the op types {@code ops} of {@code domain} (ONNX Runtime's contrib ops: {@code com.microsoft}). */
    OpRule(String domain, Set<String> ops) {
        this.domain = domain;
        this.ops = Set.copyOf(ops);
    }

    /** The domain of the ops ("" for ONNX's own). */
    final String domain() {
        return domain;
    }

    /** The op types this rule follows. */
    final Set<String> ops() {
        return ops;
    }

    /** Follows node {@code n} ({@code where} names it in reasons), reading and setting axes in {@code g}. */
    abstract void apply(NodeProto n, String where, AxisGraph g);
}
