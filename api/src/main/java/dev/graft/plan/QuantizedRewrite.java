package dev.graft.plan;

import dev.graft.exec.TensorJob;
import dev.graft.index.QuantizedMatMul;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.tensor.BlockQuantization;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * A {@code MatMulNBits} weight written with new values: its {@code [K, N]} float values (a merge of the dequantized
 * weights, a weight plus a LoRA update) are quantized again as the weight was stored ({@link
 * QuantizedMatMul#quantization}, ONNX Runtime's rule) and written as its codes, scales and zero points. The job of
 * the first part asked for (the first in the output) computes and quantizes; the other parts' jobs {@linkplain
 * TensorJob#follows follow} it, waiting for its result without taking a worker. The result is dropped when every
 * part is written. The quantization error of each rewrite goes to a listener.
 */
public final class QuantizedRewrite {
    private final QuantizedMatMul weight;
    private final OutputTensor.Values values;
    private final Consumer<MergeReport.QuantizationError> errors;
    private final long workingBytes;
    private BlockQuantization.Quantized result;
    private Exception failure;
    private boolean leading;
    private int written;

    /**
     * @param weight       the quantized weight rewritten (its node, parts and quantization)
     * @param values       computes the new {@code [K, N]} values, row-major (at least {@code K·N} of them)
     * @param errors       told the quantization error once the values are quantized
     * @param workingBytes what computing the values holds, besides the quantization's own copy
     */
    public QuantizedRewrite(QuantizedMatMul weight, OutputTensor.Values values,
                            Consumer<MergeReport.QuantizationError> errors, long workingBytes) {
        this.weight = weight;
        this.values = values;
        this.errors = errors;
        this.workingBytes = workingBytes;
    }

    /**
     * The job writing {@code part}: the weight's codes, scales or zero points. Call in output order: the first call's
     * job computes, the others follow it.
     */
    public synchronized TensorJob part(Weight part) {
        boolean lead = !leading;
        leading = true;
        java.util.concurrent.Callable<BlockQuantization.Quantized> r = lead ? this::compute : this::await;
        OutputTensor.Values v = part == weight.codes() ? () -> bytesAsFloats(r.call().codes())
                : part == weight.scales() ? () -> r.call().scales() : () -> bytesAsFloats(r.call().zeroPoints());
        OutputTensor tensor = OutputTensor.like(part, part.type(), v).onWritten(this::written);
        long n = (long) weight.quantization().k() * weight.quantization().n();
        return lead ? new TensorJob(tensor, workingBytes + 4L * n) : TensorJob.following(tensor);
    }

    /** The leader's work: the new values, quantized; followers are woken with the result or the failure. */
    private BlockQuantization.Quantized compute() throws Exception {
        try {
            BlockQuantization q = weight.quantization();
            float[] v = values.get();
            float[] w = v.length == q.k() * q.n() ? v : Arrays.copyOf(v, q.k() * q.n());
            BlockQuantization.Quantized quantized = q.quantize(w);
            errors.accept(MergeReport.QuantizationError.of(weight.node(), w, q.dequantize(quantized)));
            synchronized (this) {
                result = quantized;
                notifyAll();
            }
            return quantized;
        } catch (Exception | Error e) {
            synchronized (this) {
                failure = e instanceof Exception x ? x : new IllegalStateException(e);
                notifyAll();
            }
            throw e;
        }
    }

    /** A follower's wait for the leader's result. */
    private synchronized BlockQuantization.Quantized await() throws Exception {
        while (result == null && failure == null) {
            wait();
        }
        if (failure != null) {
            throw new IllegalStateException("the quantization of '" + weight.node() + "' failed", failure);
        }
        return result;
    }

    private synchronized void written() {
        if (++written == (weight.zeroPoints() == null ? 2 : 3)) {
            result = null;
        }
    }

    private static float[] bytesAsFloats(byte[] b) {
        float[] f = new float[b.length];
        for (int i = 0; i < b.length; i++) {
            f[i] = b[i] & 0xff;
        }
        return f;
    }
}
