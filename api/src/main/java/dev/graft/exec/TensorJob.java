package dev.graft.exec;

import dev.graft.onnx.OutputTensor;

/**
 * One output tensor to produce: {@code tensor}'s data supplier is the (possibly expensive) computation, and
 * {@code workingBytes} bounds the memory it holds from start until its result is written (inputs, scratch and
 * result).
 */
public record TensorJob(OutputTensor tensor, long workingBytes) {
}
