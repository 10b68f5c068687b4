package dev.graft.plan;

import dev.graft.exec.ArrayPool;
import dev.graft.exec.TensorJob;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WeightReader;
import dev.graft.tensor.ElementType;
import java.util.List;
import java.util.function.Supplier;

/**
 * The job that merges one tensor too large for the memory budget a slice at a time ({@link SlicedMerge}): each
 * pass reads the base and every model from the files in consecutive slices, and the last pass hands each merged
 * slice to the writer, which writes it at its place. Memory holds one slice per input and the result, whatever
 * the tensor's size. A tied copy stored transposed (a decoder's {@code lm_head} beside its embedding table) is
 * merged as the table, in slices of whole rows, each transposed and written as the runs of the copy's rows it
 * covers.
 */
final class SlicedMergeJob {
    /** The largest slice, in entries (16 MiB per array in float32). */
    static final int MAX_SLICE = 1 << 22;

    private final List<Weight> sources;
    private final boolean hasBase;
    private final Supplier<SlicedMerge> method;
    private final TaskVectorStats diagnostics;
    private final Runnable diagnosticsDone;
    private final long[] tableShape;
    private final boolean transpose;
    private final int slice;

    /**
     * @param sources         the tensor in the base (first, if {@code hasBase}) and each model
     * @param method          makes the method's merge of this tensor (fresh state for each run)
     * @param diagnostics     where the runner adds the task vectors of each slice before it is merged (null: none,
     *                        or the method records them itself)
     * @param diagnosticsDone called once every slice is merged (null: nothing to report)
     * @param transpose       write the transpose of the merged {@code [rows, columns]} table
     * @param slice           the entries per slice: a multiple of {@link TaskVectorStats#BLOCK}; rounded down to
     *                        whole rows when transposing
     */
    SlicedMergeJob(List<Weight> sources, boolean hasBase, Supplier<SlicedMerge> method, TaskVectorStats diagnostics,
                   Runnable diagnosticsDone, boolean transpose, int slice) {
        this.sources = sources;
        this.hasBase = hasBase;
        this.method = method;
        this.diagnostics = diagnostics;
        this.diagnosticsDone = diagnosticsDone;
        this.tableShape = sources.get(0).shape();
        this.transpose = transpose;
        this.slice = transpose ? Math.max(1, slice / (int) tableShape[1]) * (int) tableShape[1] : slice;
    }

    /**
     * The entries per slice for a job that may hold {@code budgetBytes}: one slice of each of {@code arrays}
     * float arrays, a multiple of {@link TaskVectorStats#BLOCK}, at most {@link #MAX_SLICE}.
     */
    static int sliceFor(long budgetBytes, int arrays) {
        long entries = budgetBytes / (4L * arrays);
        return (int) Math.max(TaskVectorStats.BLOCK, Math.min(MAX_SLICE, entries / TaskVectorStats.BLOCK
                * TaskVectorStats.BLOCK));
    }

    /** Bytes the job holds: one slice per input, the result and (transposing) its transpose. */
    long workingBytes() {
        return 4L * slice * (sources.size() + 2);
    }

    /** The job writing the merged tensor as {@code out} (its name and header), stored as {@code type}. */
    TensorJob job(Weight out, ElementType type, ArrayPool pool) {
        return new TensorJob(OutputTensor.streamed(out, type, sink -> run(sink, pool)), workingBytes());
    }

    private void run(OutputTensor.SliceSink sink, ArrayPool pool) {
        int models = sources.size() - (hasBase ? 1 : 0);
        float[] base = hasBase ? pool.floats(slice) : null;
        float[][] values = new float[models][];
        for (int m = 0; m < models; m++) {
            values[m] = pool.floats(slice);
        }
        float[] out = pool.floats(slice);
        float[] transposed = transpose ? pool.floats(slice) : null;
        try {
            SlicedMerge merge = method.get();
            int n = (int) sources.get(0).elementCount();
            for (int pass = 0; merge.needsPass(pass); pass++) {
                try (Readers r = new Readers()) {
                    for (int first = 0; first < n; first += slice) {
                        int length = Math.min(slice, n - first);
                        r.read(base, values, length);
                        merge.observe(pass, base, values, first, length);
                    }
                }
            }
            try (Readers r = new Readers()) {
                for (int first = 0; first < n; first += slice) {
                    int length = Math.min(slice, n - first);
                    r.read(base, values, length);
                    if (diagnostics != null) {
                        diagnostics.addValues(base, values, length);
                    }
                    merge.merge(base, values, first, length, out);
                    write(sink, out, transposed, first, length);
                }
            }
            merge.finish();
            if (diagnosticsDone != null) {
                diagnosticsDone.run();
            }
        } finally {
            if (base != null) {
                pool.release(base);
            }
            for (float[] v : values) {
                if (v != null) {
                    pool.release(v);
                }
            }
            pool.release(out);
            if (transposed != null) {
                pool.release(transposed);
            }
        }
    }

    /** Hands a merged slice to the writer: as it is, or transposed into the runs of the copy's rows it covers. */
    private void write(OutputTensor.SliceSink sink, float[] out, float[] transposed, int first, int length) {
        if (!transpose) {
            sink.accept(first, out, 0, length);
            return;
        }
        int columns = (int) tableShape[1];
        long rows = tableShape[0];
        int sliceRows = length / columns;
        int firstRow = first / columns;
        MatrixProducts.transpose(out, sliceRows, columns, transposed);
        for (int c = 0; c < columns; c++) {
            sink.accept(c * rows + firstRow, transposed, c * sliceRows, sliceRows);
        }
    }

    /** One pass's readers of the base and every model, reading in order. */
    private final class Readers implements AutoCloseable {
        private final WeightReader[] readers = new WeightReader[sources.size()];

        Readers() {
            for (int i = 0; i < readers.length; i++) {
                readers[i] = sources.get(i).reader();
            }
        }

        void read(float[] base, float[][] values, int length) {
            int next = 0;
            if (hasBase) {
                readers[next++].read(base, 0, length);
            }
            for (float[] v : values) {
                readers[next++].read(v, 0, length);
            }
        }

        @Override
        public void close() {
            for (WeightReader r : readers) {
                r.close();
            }
        }
    }
}
