package dev.graft.tensor;

/**
 * Block-wise low-bit quantization of a {@code [K, N]} weight as ONNX Runtime's {@code MatMulNBits} stores it:
 * blocks of {@code block} consecutive entries along K (one column n at a time), {@code bits} per entry packed into
 * bytes first entry in the lowest bits ({@code codes} {@code [N, ceil(K/block), block·bits/8]}), one scale per
 * block ({@code [N·blocks]}), and zero points ({@link ZeroPoints}) either implicit ({@code 2^(bits−1)}, symmetric),
 * one code per block (packed {@code [N, ceil(blocks·bits/8)]} uint8, like the codes) or one float per block, of the
 * scales' type and shape. {@code w = (q − zp)·scale}; K is padded with zeros to a multiple of the block.
 *
 * <p>{@link #quantize} reproduces ONNX Runtime's quantizer (MLAS {@code BlockwiseQuantizer}), in float32:
 * symmetric, {@code v} is the block's maximum if {@code |max| > |min|}, else its minimum, {@code scale = v/−2^(bits−1)};
 * asymmetric, {@code scale = (max − min)/(2^bits − 1)} with {@code min ≤ 0 ≤ max} and
 * {@code zp = clamp(roundf(−min/scale))}; then {@code q = clamp(roundf(w·(1/scale) + zp), 0, 2^bits − 1)} with
 * halves rounded away from zero. Quantizing dequantized values returns the same codes and scales. Float zero points
 * come from quantizers that fit each block's grid (HQQ, Badri and Shaji 2023, in ONNX Runtime's
 * {@code matmul_4bits_quantizer}); they are requantized round-to-nearest on the block's own range, {@code scale =
 * (max − min)/(2^bits − 1)} (a constant block's range widened to 0), {@code zp = −min/scale} unrounded, and the same
 * rule for q. That rule does not reproduce a fitted grid, so {@link #quantizeColumns(float[], int, Quantized)}
 * keeps the stored form of blocks whose values did not change.
 */
public record BlockQuantization(int k, int n, int bits, int block, ZeroPoints zeroPoints) {
    /** Columns per tile: a tile's rows of one block (and its codes) stay in the L1 cache. */
    private static final int TILE = 64;

    /** How a weight stores its zero points. */
    public enum ZeroPoints {
        /** None: {@code 2^(bits−1)} for every block (symmetric). */
        IMPLICIT,
        /** One {@code bits}-bit code per block, packed into uint8 as the codes are. */
        PACKED,
        /** One float per block, of the scales' type, not packed. */
        FLOAT
    }

    /**
     * A quantized weight's columns: codes as stored, one scale per block and one zero point per block
     * ({@code [columns·blocks]}, unpacked; null when {@link ZeroPoints#IMPLICIT}).
     */
    public record Quantized(byte[] codes, float[] scales, float[] zeroPoints) {
    }

    /** @throws IllegalArgumentException with {@link #problem}'s reason when the layout is not one of these */
    public BlockQuantization {
        java.util.Objects.requireNonNull(zeroPoints, "zeroPoints");
        String problem = problem(k, n, bits, block);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
    }

    /**
     * Why {@code K}, {@code N}, {@code bits} and {@code block} describe no layout of this format (null when they do),
     * for readers that check a model's attributes before building one.
     */
    public static String problem(int k, int n, int bits, int block) {
        if (k < 1 || n < 1) {
            return "K and N must be positive, got K=" + k + ", N=" + n;
        }
        if (bits != 2 && bits != 4 && bits != 8) {
            return "bits must be 2, 4 or 8, got " + bits;
        }
        if (block < 16 || Integer.bitCount(block) != 1) {
            return "block_size must be a power of 2 of at least 16, got " + block;
        }
        return null;
    }

    /** Blocks per column. */
    public int blocks() {
        return (k + block - 1) / block;
    }

    /** Bytes of codes per block. */
    public int blockBytes() {
        return block * bits / 8;
    }

    /** Whether the zero points are the implicit {@code 2^(bits−1)}. */
    public boolean symmetric() {
        return zeroPoints == ZeroPoints.IMPLICIT;
    }

    /** Stored zero point elements per column: packed bytes, floats, or none. */
    public int zeroPointElements() {
        return switch (zeroPoints) {
            case IMPLICIT -> 0;
            case PACKED -> (blocks() * bits + 7) / 8;
            case FLOAT -> blocks();
        };
    }

    /**
     * The zero points of {@code columns} columns (one per block) as stored: for {@link ZeroPoints#PACKED}, the
     * packed bytes as values 0–255; for {@link ZeroPoints#FLOAT}, {@code zeroPoints} itself.
     */
    public float[] storedZeroPoints(float[] zeroPoints, int columns) {
        if (this.zeroPoints != ZeroPoints.PACKED) {
            return zeroPoints;
        }
        int bytes = zeroPointElements();
        byte[] packed = new byte[columns * bytes];
        for (int c = 0; c < columns; c++) {
            for (int b = 0; b < blocks(); b++) {
                setCode(packed, c * bytes, b, (int) zeroPoints[c * blocks() + b]);
            }
        }
        float[] out = new float[packed.length];
        for (int i = 0; i < packed.length; i++) {
            out[i] = packed[i] & 0xff;
        }
        return out;
    }

    /** {@link ZeroPoints#PACKED} zero points of {@code columns} columns, unpacked to one per block. */
    public float[] unpackZeroPoints(byte[] packed, int columns) {
        float[] out = new float[columns * blocks()];
        for (int c = 0; c < columns; c++) {
            for (int b = 0; b < blocks(); b++) {
                out[c * blocks() + b] = code(packed, c * zeroPointElements(), b);
            }
        }
        return out;
    }

    private int mid() {
        return 1 << (bits - 1);
    }

    private int max() {
        return (1 << bits) - 1;
    }

    /** The {@code [K, N]} values of {@code q} (zero points null: symmetric), row-major. */
    public float[] dequantize(Quantized q) {
        float[] out = new float[k * n];
        dequantize(q, out);
        return out;
    }

    /**
     * The {@code [K, N]} values of {@code q} into {@code out}, row-major. Columns are taken a tile at a time, so that
     * both the codes read (one block per column) and the rows written stay in cache.
     */
    public void dequantize(Quantized q, float[] out) {
        for (int c0 = 0; c0 < n; c0 += TILE) {
            int c1 = Math.min(n, c0 + TILE);
            for (int b = 0; b < blocks(); b++) {
                for (int c = c0; c < c1; c++) {
                    dequantizeBlock(q, c, b, out, b * block * n + c, n);
                }
            }
        }
    }

    /**
     * The values of {@code part}, the codes, scales and zero points of {@code columns} consecutive columns (as
     * {@link #quantizeColumns} returns them, or slices of a stored weight), into {@code out} as
     * {@code [columns, K]}: one row per column of the {@code [K, N]} weight, its blocks contiguous.
     */
    public void dequantizeColumns(Quantized part, int columns, float[] out) {
        for (int c = 0; c < columns; c++) {
            for (int b = 0; b < blocks(); b++) {
                dequantizeBlock(part, c, b, out, c * k + b * block, 1);
            }
        }
    }

    /** Block {@code b} of column {@code c} of {@code q} into {@code out[at + i·stride]}. */
    private void dequantizeBlock(Quantized q, int c, int b, float[] out, int at, int stride) {
        int end = Math.min(block, k - b * block);
        float scale = q.scales()[c * blocks() + b];
        float zp = q.zeroPoints() == null ? mid() : q.zeroPoints()[c * blocks() + b];
        int base = (c * blocks() + b) * blockBytes();
        for (int i = 0; i < end; i++) {
            out[at + i * stride] = (code(q.codes(), base, i) - zp) * scale;
        }
    }

    /**
     * {@code w} ({@code [K, N]}, row-major) quantized as ONNX Runtime's quantizer does, a tile of columns at a time
     * (as {@link #dequantize(Quantized, float[])}).
     */
    public Quantized quantize(float[] w) {
        Quantized q = empty(n);
        for (int c0 = 0; c0 < n; c0 += TILE) {
            int c1 = Math.min(n, c0 + TILE);
            for (int b = 0; b < blocks(); b++) {
                for (int c = c0; c < c1; c++) {
                    quantizeBlock(w, b * block * n + c, n, q, c, b, null);
                }
            }
        }
        return q;
    }

    /**
     * {@code columns} consecutive columns of the weight, given as {@code w} {@code [columns, K]} (one row per
     * column), quantized as {@link #quantize} quantizes them: their codes, scales and zero points, in the stored
     * layout, for those columns only.
     */
    public Quantized quantizeColumns(float[] w, int columns) {
        return quantizeColumns(w, columns, null);
    }

    /**
     * {@link #quantizeColumns(float[], int)}, except that each block whose values are exactly those {@code kept}
     * (the same columns' stored codes, scales and zero points, or null) stands for is written as {@code kept} stores
     * it: an unchanged block keeps its grid, whatever quantizer made it.
     */
    public Quantized quantizeColumns(float[] w, int columns, Quantized kept) {
        Quantized q = empty(columns);
        for (int c = 0; c < columns; c++) {
            for (int b = 0; b < blocks(); b++) {
                quantizeBlock(w, c * k + b * block, 1, q, c, b, kept);
            }
        }
        return q;
    }

    private Quantized empty(int columns) {
        return new Quantized(new byte[columns * blocks() * blockBytes()], new float[columns * blocks()],
                symmetric() ? null : new float[columns * blocks()]);
    }

    /**
     * Quantizes block {@code b} of column {@code c}, whose values are {@code w[at + i·stride]}, into {@code q}, or
     * copies {@code kept}'s block there if it stands for those values.
     */
    private void quantizeBlock(float[] w, int at, int stride, Quantized q, int c, int b, Quantized kept) {
        int end = Math.min(block, k - b * block);
        if (kept != null && standsFor(kept, c, b, w, at, stride)) {
            int base = (c * blocks() + b) * blockBytes();
            System.arraycopy(kept.codes(), base, q.codes(), base, blockBytes());
            q.scales()[c * blocks() + b] = kept.scales()[c * blocks() + b];
            if (q.zeroPoints() != null) {
                q.zeroPoints()[c * blocks() + b] = kept.zeroPoints()[c * blocks() + b];
            }
            return;
        }
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (int i = 0; i < end; i++) {
            float v = w[at + i * stride];
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float scale;
        float zp = mid();
        if (zeroPoints == ZeroPoints.IMPLICIT) {
            scale = (Math.abs(max) > Math.abs(min) ? max : min) / (float) -mid();
        } else if (zeroPoints == ZeroPoints.PACKED) {
            min = Math.min(min, 0f);
            max = Math.max(max, 0f);
            scale = (max - min) / max();
            float zeroPoint = scale != 0f ? 0f - min / scale : min;
            zp = zeroPoint < 0f ? 0 : zeroPoint > max() ? max() : roundf(zeroPoint);
            q.zeroPoints()[c * blocks() + b] = zp;
        } else {
            if (max == min) {
                min = Math.min(min, 0f);
                max = Math.max(max, 0f);
            }
            scale = (max - min) / max();
            zp = scale != 0f ? -min / scale : 0f;
            q.zeroPoints()[c * blocks() + b] = zp;
        }
        q.scales()[c * blocks() + b] = scale;
        float reciprocal = scale != 0f ? 1.0f / scale : 0f;
        int base = (c * blocks() + b) * blockBytes();
        for (int i = 0; i < end; i++) {
            float v = roundf(w[at + i * stride] * reciprocal + zp);
            setCode(q.codes(), base, i, (int) Math.min(max(), Math.max(0f, v)));
        }
    }

    /** Whether block {@code b} of column {@code c} of {@code kept} dequantizes to {@code w[at + i·stride]}. */
    private boolean standsFor(Quantized kept, int c, int b, float[] w, int at, int stride) {
        int end = Math.min(block, k - b * block);
        float scale = kept.scales()[c * blocks() + b];
        float zp = kept.zeroPoints() == null ? mid() : kept.zeroPoints()[c * blocks() + b];
        int base = (c * blocks() + b) * blockBytes();
        for (int i = 0; i < end; i++) {
            if ((code(kept.codes(), base, i) - zp) * scale != w[at + i * stride]) {
                return false;
            }
        }
        return true;
    }

    /** C's {@code roundf}: to the nearest integer, halves away from zero ({@code |x| + 0.5} is exact in double). */
    static float roundf(float x) {
        return (float) Math.copySign(Math.floor(Math.abs((double) x) + 0.5), x);
    }

    private int code(byte[] packed, int base, int index) {
        int perByte = 8 / bits;
        int b = packed[base + index / perByte] & 0xff;
        return (b >> (bits * (index % perByte))) & max();
    }

    private void setCode(byte[] packed, int base, int index, int value) {
        int perByte = 8 / bits;
        int at = base + index / perByte;
        int shift = bits * (index % perByte);
        packed[at] = (byte) ((packed[at] & ~(max() << shift)) | (value << shift));
    }
}
