package dev.graft.verify;

import java.util.List;
import java.util.Map;

/**
 * The outcome of running a model in ONNX Runtime on probe inputs: the input shapes used, each output's shape
 * and whether all its values are finite, and, when run against a reference, the differences per output.
 */
public record VerifyReport(String model, String against, Map<String, List<Long>> inputs, List<Output> outputs,
                           List<OutputDifference> differences) {
    /** One output of the model. */
    public record Output(String name, String type, List<Long> shape, boolean finite) {
    }

    /** The largest {@link OutputDifference#maxAbs()} over all outputs (0 without a reference). */
    public double maxAbs() {
        return differences.stream().mapToDouble(OutputDifference::maxAbs).max().orElse(0);
    }

    /** The largest {@link OutputDifference#maxRel()} over all outputs (0 without a reference). */
    public double maxRel() {
        return differences.stream().mapToDouble(OutputDifference::maxRel).max().orElse(0);
    }

    /** True when every output is finite. */
    public boolean allFinite() {
        return outputs.stream().allMatch(Output::finite);
    }
}
