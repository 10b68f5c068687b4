package dev.graft.cli;

import dev.graft.InvalidSettingException;
import dev.graft.onnx.WriteOptions;
import dev.graft.tensor.ElementType;
import picocli.CommandLine.Option;

/** The output options shared by the commands that write a model. */
final class WriteOptionsMixin {
    @Option(names = "--dtype", paramLabel = "fp32|fp16|bf16", description = "element type of stored float weights")
    String dtype;

    @Option(names = "--external-data", description = "weights in one data file beside the model (OUT.data, or OUT_data for Optimum-style inputs)")
    boolean external;

    @Option(names = "--inline", description = "weights inside the model file (at most 2 GiB)")
    boolean inline;

    @Option(names = "--json", description = "machine-readable output")
    boolean json;

    WriteOptions.Layout layout() {
        if (external && inline) {
            throw new InvalidSettingException("--external-data and --inline exclude each other");
        }
        return external ? WriteOptions.Layout.EXTERNAL : inline ? WriteOptions.Layout.INLINE : WriteOptions.Layout.AUTO;
    }

    /** The requested element type, or null to keep each tensor's own. */
    ElementType elementType() {
        return dtype == null ? null : ElementType.parseFloatType(dtype);
    }
}
