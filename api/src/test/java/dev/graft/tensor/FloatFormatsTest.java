package dev.graft.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

class FloatFormatsTest {

    /** binary16 value of a bit pattern, computed from the definition (sign, exponent, fraction). */
    private static double halfByDefinition(int h) {
        int sign = (h >> 15) & 1;
        int exp = (h >> 10) & 0x1f;
        int frac = h & 0x3ff;
        double mag = exp == 0 ? frac * Math.pow(2, -24) : (1 + frac / 1024.0) * Math.pow(2, exp - 15);
        if (exp == 0x1f) {
            mag = frac == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        }
        return sign == 1 ? -mag : mag;
    }

    @Test
    void everyHalfWidensToItsDefinedValueAndNarrowsBack() {
        for (int h = 0; h < 1 << 16; h++) {
            double expected = halfByDefinition(h);
            float f = Float16.toFloat((short) h);
            if (Double.isNaN(expected)) {
                assertThat(Float.isNaN(f)).isTrue();
                assertThat(Float.isNaN(Float16.toFloat(Float16.fromFloat(f)))).isTrue();
            } else {
                assertThat((double) f).isEqualTo(expected);
                assertThat(Float16.fromFloat(f) & 0xffff).isEqualTo(h);
            }
        }
    }

    @Test
    void narrowingPicksTheNearestHalfWithTiesToEven() {
        Random r = new Random(7);
        for (int i = 0; i < 3_000; i++) {
            float x = i % 2 == 0 ? (float) (r.nextGaussian() * Math.pow(2, r.nextInt(40) - 28))
                    : Float.intBitsToFloat(r.nextInt());
            if (Float.isNaN(x)) {
                continue;
            }
            int got = Float16.fromFloat(x) & 0xffff;
            double best = Double.POSITIVE_INFINITY;
            int bestH = -1;
            for (int h = (x < 0 || (x == 0 && 1 / x < 0)) ? 0x8000 : 0, end = h + 0x7c01; h < end; h++) {
                double v = halfByDefinition(h);
                double d = Math.abs(v - x);
                if (Double.isInfinite(v)) {
                    // beyond the largest finite half, IEEE rounds to infinity from 65520 up
                    d = Math.abs(x) >= 65520 ? 0 : Double.POSITIVE_INFINITY;
                }
                if (d < best || (d == best && (h & 1) == 0)) {
                    best = d;
                    bestH = h;
                }
            }
            assertThat(got).as("fp16 of %s", x).isEqualTo(bestH);
        }
    }

    @Test
    void exactMidpointsBetweenHalvesRoundToTheEvenOne() {
        // every pair of neighbouring finite positive halves, subnormals included; the midpoint needs 12
        // significant bits, so it is exact in float32
        for (int h = 0; h < 0x7bff; h++) {
            float mid = (float) ((halfByDefinition(h) + halfByDefinition(h + 1)) / 2);
            int even = (h & 1) == 0 ? h : h + 1;
            assertThat(Float16.fromFloat(mid) & 0xffff).as("midpoint after %04x", h).isEqualTo(even);
            assertThat(Float16.fromFloat(-mid) & 0xffff).isEqualTo(even | 0x8000);
        }
    }

    @Test
    void bfloat16RoundsToNearestEvenAndKeepsNaN() {
        // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: ties to even gives 1.0
        assertThat(BFloat16.toFloat(BFloat16.fromFloat(1f + 0x1p-8f))).isEqualTo(1f);
        // 1 + 3*2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to 1 + 2^-6
        assertThat(BFloat16.toFloat(BFloat16.fromFloat(1f + 3 * 0x1p-8f))).isEqualTo(1f + 0x1p-6f);
        assertThat(Float.isNaN(BFloat16.toFloat(BFloat16.fromFloat(Float.NaN)))).isTrue();
        Random r = new Random(3);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) r.nextGaussian() * 1000;
            float y = BFloat16.toFloat(BFloat16.fromFloat(x));
            int bits = Float.floatToRawIntBits(x);
            float down = Float.intBitsToFloat(bits & 0xffff0000);
            float up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
            double dd = Math.abs((double) x - down);
            double du = Math.abs((double) up - x);
            float expected = dd < du ? down : du < dd ? up : (((bits >>> 16) & 1) == 0 ? down : up);
            assertThat(y).isEqualTo(expected);
        }
    }

    @Test
    void codecRoundTripsEveryFloatType() {
        float[] values = {0f, -1.5f, 3.25f, 1e-3f, 65504f, -2f};
        for (ElementType t : new ElementType[] {ElementType.FLOAT, ElementType.FLOAT16, ElementType.BFLOAT16,
                ElementType.DOUBLE}) {
            ByteBuffer b = FloatCodec.encode(t, values);
            assertThat(b.remaining()).isEqualTo(values.length * t.bits() / 8);
            float[] back = new float[values.length];
            FloatCodec.decode(t, b, back);
            for (int i = 0; i < values.length; i++) {
                float expected = t == ElementType.FLOAT16 ? Float16.toFloat(Float16.fromFloat(values[i]))
                        : t == ElementType.BFLOAT16 ? BFloat16.toFloat(BFloat16.fromFloat(values[i])) : values[i];
                assertThat(back[i]).isEqualTo(expected);
            }
        }
        ByteBuffer le = FloatCodec.encode(ElementType.FLOAT, new float[] {1f});
        assertThat(le.order(ByteOrder.LITTLE_ENDIAN).getInt(0)).isEqualTo(Float.floatToIntBits(1f));
    }
}
