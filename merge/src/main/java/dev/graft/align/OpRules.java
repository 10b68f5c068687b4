package dev.graft.align;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The op rules by domain and op type: adding an op family is one {@link OpRule} class and one entry here. */
final class OpRules {
    private static final List<OpRule> RULES = List.of(new ConstantRule(), new ShapeOnlyRule(), new UnaryRule(),
            new BroadcastRule(), new ReduceRule(), new ReshapeRule(), new PoolRule(), new MatMulRule(), new GemmRule(),
            new ConvRule(), new ChannelNormRule(), new LayerNormRule(), new SkipNormRule(), new TransposeRule(),
            new GatherRule());
    private static final Map<String, OpRule> BY_OP = new HashMap<>();

    static {
        for (OpRule r : RULES) {
            for (String op : r.ops()) {
                if (BY_OP.put(r.domain() + ":" + op, r) != null) {
                    throw new IllegalStateException("op " + op + " has two rules");
                }
            }
        }
    }

    private OpRules() {
    }

    /** The rule for {@code opType} of {@code domain} ("" for ONNX's own ops), or null. */
    static OpRule of(String domain, String opType) {
        return BY_OP.get(domain + ":" + opType);
    }
}
