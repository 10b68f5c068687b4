package dev.graft.merge;

/**
 * PyTorch's rows of a tensor stored in ONNX layout, for methods that work per row (per output unit): one row
 * for a vector; the rows of {@code [out, in]}; the columns of a MatMul weight stored {@code [in, out]}; slices
 * along the first dimension for higher ranks. Row {@code r}'s {@code j}-th value is at {@link #index}.
 */
record Rows(int count, int length, int start, int rowStride, int step) {
    static Rows of(long[] shape, boolean inOutLayout, int size) {
        if (shape.length == 2 && inOutLayout) {
            int out = (int) shape[1];
            return new Rows(out, out == 0 ? 0 : size / out, 0, 1, out);
        }
        if (shape.length <= 1 || shape[0] == 0) {
            return new Rows(1, size, 0, size, 1);
        }
        int rows = (int) shape[0];
        return new Rows(rows, size / rows, 0, size / rows, 1);
    }

    /** The whole tensor as one row. */
    static Rows flat(int size) {
        return new Rows(1, size, 0, size, 1);
    }

    int index(int row, int j) {
        return start + row * rowStride + j * step;
    }
}
