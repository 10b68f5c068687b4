package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.Set;

/**
 * How one family of ONNX ops moves axes, for permutation inference: which input and output axes must be permuted
 * alike (unified), which cannot be permuted (fixed), and the output's axes. One small class per family, found by
 * op type in {@link OpRules}; an op no rule names fixes every axis it touches.
 */
interface OpRule {
    /** The op types (default domain) this rule follows. */
    Set<String> ops();

    /** Follows node {@code n} ({@code where} names it in reasons), reading and setting axes in {@code g}. */
    void apply(NodeProto n, String where, AxisGraph g);
}
