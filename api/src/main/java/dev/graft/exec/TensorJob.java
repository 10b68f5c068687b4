package dev.graft.exec;

import dev.graft.onnx.OutputTensor;

/**
 * One output tensor to produce: {@code tensor}'s data supplier is the (possibly expensive) computation, and
 * {@code workingBytes} bounds the memory it holds from start until its result is written (inputs, scratch and
 * result); 0 for tensors with nothing to compute. A job that {@code follows} another only hands out part of that
 * job's result (the scales of a quantized weight whose codes job computes both): it holds nothing of its own and
 * waits for that job, on a thread of its own rather than one of the workers that compute.
 */
public record TensorJob(OutputTensor tensor, long workingBytes, boolean follows) {
    public TensorJob(OutputTensor tensor, long workingBytes) {
        this(tensor, workingBytes, false);
    }

    /** A tensor with nothing to compute (copied or written verbatim by the writer). */
    public static TensorJob passThrough(OutputTensor tensor) {
        return new TensorJob(tensor, 0);
    }

    /** A part of the result of a job that comes before it in the output (see above). */
    public static TensorJob following(OutputTensor tensor) {
        return new TensorJob(tensor, 0, true);
    }
}
