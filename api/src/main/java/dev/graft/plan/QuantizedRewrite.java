package dev.graft.plan;

import dev.graft.exec.ArrayPool;
import dev.graft.exec.TensorJob;
import dev.graft.index.QuantizedMatMul;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.tensor.BlockQuantization;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * A {@code MatMulNBits} weight written with new values: its float values (a merge of the dequantized weights, a
 * weight plus a LoRA update), held as {@code [N, K]} (the {@code [K, N]} weight's columns as rows, each column's
 * blocks contiguous) are quantized again as the weight was stored ({@link
 * QuantizedMatMul#quantization}, ONNX Runtime's rule) and written as its codes, scales and zero points. The job of
 * the first part asked for (the first in the output) computes and quantizes; the other parts' jobs {@linkplain
 * TensorJob#follows follow} it, waiting for its result without taking a worker. The result is dropped when every
 * part is written. The quantization error of each rewrite goes to a listener. Blocks of a weight with float zero
 * points (a fitted grid, which round-to-nearest does not reproduce) whose values equal the stored weight's keep
 * their stored form ({@link BlockQuantization#quantizeColumns(float[], int, BlockQuantization.Quantized)}).
 */
public final class QuantizedRewrite {
    private final QuantizedMatMul weight;
    private final OutputTensor.Values values;
    private final SlicedMergeJob sliced;
    private final ArrayPool pool;
    private final Consumer<MergeReport.QuantizationError> errors;
    private final long workingBytes;
    private BlockQuantization.Quantized result;
    private Exception failure;
    private boolean leading;
    private int written;

    /**
     * @param weight       the quantized weight rewritten (its node, parts and quantization)
     * @param values       computes the new values as {@code [N, K]}, the weight's columns as rows (at least
     *                     {@code K·N} of them)
     * @param errors       told the quantization error once the values are quantized
     * @param workingBytes what computing the values holds, besides the quantization's own copy
     */
    public QuantizedRewrite(QuantizedMatMul weight, OutputTensor.Values values,
                            Consumer<MergeReport.QuantizationError> errors, long workingBytes) {
        this(weight, values, null, null, errors, workingBytes);
    }

    private QuantizedRewrite(QuantizedMatMul weight, OutputTensor.Values values, SlicedMergeJob sliced, ArrayPool pool,
                             Consumer<MergeReport.QuantizationError> errors, long workingBytes) {
        this.weight = weight;
        this.values = values;
        this.sliced = sliced;
        this.pool = pool;
        this.errors = errors;
        this.workingBytes = workingBytes;
    }

    /**
     * The rewrite of a weight merged in slices of whole columns by {@code job} ({@code [N, K]} rows): each slice is
     * quantized as it comes and its codes written at their place, so that memory holds slices, not the weight; the
     * scales and zero points (a {@code block}th of the entries) are gathered and written by the parts that follow.
     * The codes must be the first part asked for.
     */
    static QuantizedRewrite sliced(QuantizedMatMul weight, SlicedMergeJob job, ArrayPool pool,
                                   Consumer<MergeReport.QuantizationError> errors) {
        return new QuantizedRewrite(weight, null, job, pool, errors, job.workingBytes());
    }

    /**
     * The job writing {@code part}: the weight's codes, scales or zero points. Call in output order: the first call's
     * job computes, the others follow it.
     */
    public synchronized TensorJob part(Weight part) {
        boolean lead = !leading;
        leading = true;
        if (sliced != null) {
            if (lead != (part == weight.codes())) {
                throw new IllegalStateException("'" + weight.node() + "': a rewrite in slices writes the codes first");
            }
            if (lead) {
                return new TensorJob(OutputTensor.streamed(part, part.type(), this::stream).onWritten(this::written),
                        workingBytes);
            }
        }
        java.util.concurrent.Callable<BlockQuantization.Quantized> r = lead ? this::compute : this::await;
        OutputTensor.Values v = part == weight.codes() ? () -> bytesAsFloats(r.call().codes())
                : part == weight.scales() ? () -> r.call().scales()
                : () -> weight.quantization().storedZeroPoints(r.call().zeroPoints(), weight.quantization().n());
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
            BlockQuantization.Quantized quantized = q.quantizeColumns(w, q.n(), keepsGrid() ? weight.stored() : null);
            float[] back = new float[w.length];
            q.dequantizeColumns(quantized, q.n(), back);
            errors.accept(MergeReport.QuantizationError.of(weight.node(), w, back));
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

    /**
     * The leader's work in slices: each merged slice of whole columns quantized and its codes handed to the writer;
     * the scales and zero points kept for the followers, who are woken with them or the failure.
     */
    private void stream(OutputTensor.SliceSink sink) throws Exception {
        BlockQuantization q = weight.quantization();
        float[] scales = new float[q.n() * q.blocks()];
        float[] zeroPoints = q.symmetric() ? null : new float[q.n() * q.blocks()];
        double[] error = new double[2];
        try {
            float[] back = pool.floats(sliced.slice());
            try (QuantizedMatMul.ColumnReader stored = keepsGrid() ? weight.columns() : null) {
                sliced.run((merged, first, length) -> {
                    int column = first / q.k();
                    int columns = length / q.k();
                    BlockQuantization.Quantized part = q.quantizeColumns(merged, columns,
                            stored == null ? null : stored.readStored(columns));
                    q.dequantizeColumns(part, columns, back);
                    MergeReport.QuantizationError.add(error, merged, back, length);
                    sink.accept((long) column * q.blocks() * q.blockBytes(), bytesAsFloats(part.codes()), 0,
                            part.codes().length);
                    System.arraycopy(part.scales(), 0, scales, column * q.blocks(), part.scales().length);
                    if (zeroPoints != null) {
                        System.arraycopy(part.zeroPoints(), 0, zeroPoints, column * q.blocks(),
                                part.zeroPoints().length);
                    }
                }, pool);
            } finally {
                pool.release(back);
            }
            errors.accept(MergeReport.QuantizationError.of(weight.node(), error));
            synchronized (this) {
                result = new BlockQuantization.Quantized(null, scales, zeroPoints);
                notifyAll();
            }
        } catch (Exception | Error e) {
            synchronized (this) {
                failure = e instanceof Exception x ? x : new IllegalStateException(e);
                notifyAll();
            }
            throw e;
        }
    }

    /** Whether unchanged blocks keep their stored form: the weight's grid is not the one Graft's rule gives. */
    private boolean keepsGrid() {
        return weight.quantization().zeroPoints() == BlockQuantization.ZeroPoints.FLOAT;
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
