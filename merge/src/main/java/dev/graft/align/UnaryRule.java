package dev.graft.align;

import ai.onnx.proto.OnnxMl.NodeProto;

/**
 * Permutation inference for element-wise ops of one tensor: the output has the input's axes (extra outputs such as
 * Dropout's mask are fixed).
 */
final class UnaryRule extends OpRule {
    UnaryRule() {
        super("Identity", "Cast", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
            "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Softplus", "Softsign", "Elu", "Selu", "Gelu",
            "HardSigmoid", "HardSwish", "Mish", "Celu", "ThresholdedRelu", "Shrink", "Floor", "Ceil", "Round",
            "Sin", "Cos", "Sign", "Not", "IsNaN", "IsInf", "Dropout", "Clip", "Softmax", "LogSoftmax", "Hardmax");
    }

    @Override
    void apply(NodeProto n, String where, AxisGraph g) {
        int[] x = g.firstInput(n, where);
        if (x == null) {
            return;
        }
        g.setOutput(n, 0, x.clone(), where);
        for (int k = 1; k < n.getOutputCount(); k++) {
            g.setOutput(n, k, g.fixedDims(g.shapeOf(n.getOutput(k)), where), where); // e.g. Dropout's mask
        }
    }
}
