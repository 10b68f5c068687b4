package dev.graft.exec;

import dev.graft.onnx.OutputTensor;

/**
 * One output tensor to produce: {@code tensor}'s data supplier is the (possibly expensive) computation, and
 * {@code workingBytes} bounds the memory it holds from start until its result is written (inputs, scratch and
 * result); 0 for tensors with nothing to compute.
 */
public record TensorJob(OutputTensor tensor, long workingBytes) {
    /** A tensor with nothing to compute (copied or written verbatim by the writer). */
    public static TensorJob passThrough(OutputTensor tensor) {
        return new TensorJob(tensor, 0);
    }
}
