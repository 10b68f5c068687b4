package dev.graft.tensor;

/**
 * IEEE 754 binary16 ("half") conversions. Narrowing rounds to nearest, ties to even, with overflow to
 * infinity and gradual underflow through subnormals; NaN stays NaN. Widening is exact.
 */
public final class Float16 {
    private static final float[] TO_FLOAT = new float[1 << 16];

    static {
        for (int h = 0; h < TO_FLOAT.length; h++) {
            TO_FLOAT[h] = widen(h);
        }
    }

    private Float16() {
    }

    /** The float32 value of a binary16 bit pattern (exact). */
    public static float toFloat(short bits) {
        return TO_FLOAT[bits & 0xffff];
    }

    /** The binary16 bit pattern nearest to {@code value} (round to nearest, ties to even). */
    public static short fromFloat(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xff;
        int mant = bits & 0x7fffff;
        if (exp == 0xff) {
            return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (e <= 0) {
            if (e < -10) {
                return (short) sign;
            }
            int full = mant | 0x800000;
            int shift = 14 - e;
            return (short) (sign | roundShift(full, shift));
        }
        int half = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
            half++; // a carry into the exponent is the correct result, up to infinity
        }
        return (short) (sign | half);
    }

    private static int roundShift(int value, int shift) {
        int kept = value >>> shift;
        int rem = value & ((1 << shift) - 1);
        int halfway = 1 << (shift - 1);
        if (rem > halfway || (rem == halfway && (kept & 1) != 0)) {
            kept++;
        }
        return kept;
    }

    private static float widen(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
