package dev.graft.plan;

import dev.graft.exec.ArrayPool;
import dev.graft.exec.TensorJob;
import dev.graft.index.QuantizedMatMul;
import dev.graft.linalg.MatrixProducts;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WeightReader;
import dev.graft.tensor.ElementType;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The job that merges one tensor too large for the memory budget a slice at a time ({@link SlicedMerge}): each
 * pass reads the base and every model from the files in consecutive slices, and the last pass hands each merged
 * slice on, to the writer, which writes it at its place, or to a quantized weight's rewrite. Memory holds one
 * slice per input and the result, whatever the tensor's size. The inputs are float weights, or {@code MatMulNBits}
 * weights read a range of columns at a time and held as {@code [N, K]} rows (as a whole merge holds them). The tied
 * copies of a table (a decoder's {@code lm_head} beside its embedding table) are written from the table's slices,
 * a copy stored transposed in slices of whole rows, each transposed and written as the runs of the copy's rows it
 * covers: the table is merged once.
 */
final class SlicedMergeJob {
    /** The largest slice, in entries (16 MiB per array in float32). */
    static final int MAX_SLICE = 1 << 22;

    /**
     * The inputs' values in order: the base (if any) and each model, entry {@code i} of each together.
     *
     * @param count   entries per input
     * @param unit    slices hold whole units of this many entries (a table's row, a quantized weight's column)
     * @param hasBase whether the first input is the base
     * @param inputs  the number of inputs: the base, if any, and the models
     * @param readers opens one pass's readers, one per input, each from the first entry
     */
    record Inputs(int count, int unit, boolean hasBase, int inputs, Supplier<List<InputReader>> readers) {
        int models() {
            return inputs - (hasBase ? 1 : 0);
        }
    }

    /** One input read in order: the next {@code length} entries into {@code dst}. */
    interface InputReader extends AutoCloseable {
        void read(float[] dst, int length);

        @Override
        void close();
    }

    /** What becomes of each merged slice: {@code merged[0, length)} are entries {@code [first, first + length)}. */
    interface Output {
        void accept(float[] merged, int first, int length);
    }

    private final Inputs inputs;
    private final Supplier<SlicedMerge> method;
    private final TaskVectorStats diagnostics;
    private final Runnable diagnosticsDone;
    private final int slice;

    /**
     * @param inputs          the tensor in the base and each model
     * @param method          makes the method's merge of this tensor (fresh state for each run)
     * @param diagnostics     where the runner adds the task vectors of each slice before it is merged (null: none,
     *                        or the method records them itself)
     * @param diagnosticsDone called once every slice is merged (null: nothing to report)
     * @param slice           the entries per slice: a multiple of {@link TaskVectorStats#BLOCK}, rounded to whole
     *                        units ({@link Inputs#unit}): down, or up to one unit; to a multiple of both when one
     *                        fits, so that diagnostics add up block by block as in a whole merge
     */
    SlicedMergeJob(Inputs inputs, Supplier<SlicedMerge> method, TaskVectorStats diagnostics, Runnable diagnosticsDone,
                   int slice) {
        this.inputs = inputs;
        this.method = method;
        this.diagnostics = diagnostics;
        this.diagnosticsDone = diagnosticsDone;
        int unit = inputs.unit();
        long both = (long) unit / gcd(unit, TaskVectorStats.BLOCK) * TaskVectorStats.BLOCK;
        long step = both <= slice ? both : unit;
        this.slice = (int) Math.max(unit, slice / step * step);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /** Float weights: {@code sources} holds the tensor in the base (first, if {@code hasBase}) and each model. */
    static Inputs weights(List<Weight> sources, boolean hasBase, int unit) {
        return new Inputs(Math.toIntExact(sources.get(0).elementCount()), unit, hasBase, sources.size(),
                () -> sources.stream().map(w -> {
                    WeightReader r = w.reader();
                    return (InputReader) new InputReader() {
                        @Override
                        public void read(float[] dst, int length) {
                            r.read(dst, 0, length);
                        }

                        @Override
                        public void close() {
                            r.close();
                        }
                    };
                }).toList());
    }

    /**
     * {@code MatMulNBits} weights, as {@code [N, K]} rows (each column of the {@code [K, N]} weight a row): {@code
     * sources} holds the weight in the base (first, if {@code hasBase}) and each model, all of one layout.
     */
    static Inputs quantized(List<QuantizedMatMul> sources, boolean hasBase) {
        int k = sources.get(0).quantization().k();
        return new Inputs(Math.multiplyExact(k, sources.get(0).quantization().n()), k, hasBase, sources.size(),
                () -> sources.stream().map(q -> {
                    QuantizedMatMul.ColumnReader r = q.columns();
                    return (InputReader) new InputReader() {
                        @Override
                        public void read(float[] dst, int length) {
                            r.read(length / k, dst);
                        }

                        @Override
                        public void close() {
                            r.close();
                        }
                    };
                }).toList());
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

    /** Entries per slice. */
    int slice() {
        return slice;
    }

    /** Bytes the job holds: one slice per input, the result and one more (a transpose, or a quantization's copy). */
    long workingBytes() {
        return 4L * slice * (inputs.models() + (inputs.hasBase() ? 1 : 0) + 2);
    }

    /** A tied copy of the merged table that the job writes too: as it is, or transposed. */
    record Copy(String name, boolean transposed) {
    }

    /**
     * The job writing the merged tensor as {@code out} (its name and header), stored as {@code type}, and the tied
     * {@code copies} of it ({@link OutputTensor#companionOf companions} whose jobs follow this one): each slice is
     * written to the table and to each copy, transposed for a copy stored transposed (slices then hold whole rows:
     * see {@link #weights}' unit). The table is merged once for all of them.
     */
    TensorJob job(Weight out, ElementType type, List<Copy> copies, ArrayPool pool) {
        return new TensorJob(OutputTensor.streamed(out, type, sink -> {
            boolean transposing = copies.stream().anyMatch(Copy::transposed);
            int columns = inputs.unit();
            long rows = inputs.count() / columns;
            float[] transposed = transposing ? pool.floats(slice) : null;
            try {
                run((merged, first, length) -> {
                    sink.accept(first, merged, 0, length);
                    for (Copy copy : copies) {
                        OutputTensor.SliceSink to = sink.companion(copy.name());
                        if (!copy.transposed()) {
                            to.accept(first, merged, 0, length);
                            continue;
                        }
                        int sliceRows = length / columns;
                        MatrixProducts.transpose(merged, sliceRows, columns, transposed);
                        for (int c = 0; c < columns; c++) {
                            to.accept(c * rows + first / columns, transposed, c * sliceRows, sliceRows);
                        }
                    }
                }, pool);
            } finally {
                if (transposed != null) {
                    pool.release(transposed);
                }
            }
        }), workingBytes());
    }

    /** Merges the tensor, every pass over the files, handing each merged slice to {@code output} in order. */
    void run(Output output, ArrayPool pool) {
        float[] base = inputs.hasBase() ? pool.floats(slice) : null;
        float[][] values = new float[inputs.models()][];
        for (int m = 0; m < values.length; m++) {
            values[m] = pool.floats(slice);
        }
        float[] out = pool.floats(slice);
        try {
            SlicedMerge merge = method.get();
            int n = inputs.count();
            for (int pass = 0; merge.needsPass(pass); pass++) {
                try (Pass r = new Pass(inputs)) {
                    for (int first = 0; first < n; first += slice) {
                        int length = Math.min(slice, n - first);
                        r.read(base, values, length);
                        merge.observe(pass, base, values, first, length);
                    }
                }
            }
            try (Pass r = new Pass(inputs)) {
                for (int first = 0; first < n; first += slice) {
                    int length = Math.min(slice, n - first);
                    r.read(base, values, length);
                    if (diagnostics != null) {
                        diagnostics.addValues(base, values, length);
                    }
                    merge.merge(base, values, first, length, out);
                    output.accept(out, first, length);
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
                pool.release(v);
            }
            pool.release(out);
        }
    }

    /** One pass over the inputs: the next entries of the base (if any) and of each model, together. */
    private static final class Pass implements AutoCloseable {
        private final List<InputReader> readers;
        private final boolean hasBase;

        Pass(Inputs inputs) {
            this.readers = inputs.readers().get();
            this.hasBase = inputs.hasBase();
        }

        void read(float[] base, float[][] values, int length) {
            int next = 0;
            if (hasBase) {
                readers.get(next++).read(base, length);
            }
            for (float[] v : values) {
                readers.get(next++).read(v, length);
            }
        }

        @Override
        public void close() {
            readers.forEach(InputReader::close);
        }
    }
}
