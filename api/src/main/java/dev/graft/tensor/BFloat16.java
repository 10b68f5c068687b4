package dev.graft.tensor;

/**
 * bfloat16 conversions: the upper 16 bits of a float32. Narrowing rounds to nearest, ties to even; NaN stays
 * a (quiet) NaN. Widening is exact.
 */
public final class BFloat16 {
    private BFloat16() {
    }

    /** The float32 value of a bfloat16 bit pattern (exact). */
    public static float toFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** The bfloat16 bit pattern nearest to {@code value} (round to nearest, ties to even). */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
