package dev.graft.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/**
 * Bulk conversion between little-endian ONNX {@code raw_data} of a floating-point element type
 * (float32, float16, bfloat16, float64) and float32 arrays.
 */
public final class FloatCodec {
    private FloatCodec() {
    }

    /**
     * Decodes {@code dst.length} elements of {@code type} from {@code src} (read from its position, which is
     * left unchanged) into {@code dst}.
     */
    public static void decode(ElementType type, ByteBuffer src, float[] dst) {
        decode(type, src, dst, 0, dst.length);
    }

    /** Decodes {@code count} elements from {@code src} (from its position, left unchanged) into {@code dst[at...]}. */
    public static void decode(ElementType type, ByteBuffer src, float[] dst, int at, int count) {
        ByteBuffer le = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case FLOAT:
                le.asFloatBuffer().get(dst, at, count);
                break;
            case DOUBLE: {
                DoubleBuffer d = le.asDoubleBuffer();
                for (int i = 0; i < count; i++) {
                    dst[at + i] = (float) d.get(i);
                }
                break;
            }
            case FLOAT16: {
                ShortBuffer s = le.asShortBuffer();
                for (int i = 0; i < count; i++) {
                    dst[at + i] = Float16.toFloat(s.get(i));
                }
                break;
            }
            case BFLOAT16: {
                ShortBuffer s = le.asShortBuffer();
                for (int i = 0; i < count; i++) {
                    dst[at + i] = BFloat16.toFloat(s.get(i));
                }
                break;
            }
            default:
                throw new IllegalArgumentException(type.displayName() + " is not a floating-point type");
        }
    }

    /** Encodes {@code src} as {@code type} into a new little-endian buffer, positioned at 0. */
    public static ByteBuffer encode(ElementType type, float[] src) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(type.byteLength(src.length)))
                .order(ByteOrder.LITTLE_ENDIAN);
        encode(type, src, out);
        out.clear();
        return out;
    }

    /** Encodes {@code src} as {@code type} into {@code dst} from its position, advancing it. */
    public static void encode(ElementType type, float[] src, ByteBuffer dst) {
        encode(type, src, 0, src.length, dst);
    }

    /** Encodes {@code src[from, from + count)} as {@code type} into {@code dst} from its position, advancing it. */
    public static void encode(ElementType type, float[] src, int from, int count, ByteBuffer dst) {
        ByteBuffer le = dst.slice().order(ByteOrder.LITTLE_ENDIAN);
        int end = from + count;
        switch (type) {
            case FLOAT: {
                FloatBuffer f = le.asFloatBuffer();
                f.put(src, from, count);
                break;
            }
            case DOUBLE: {
                DoubleBuffer d = le.asDoubleBuffer();
                for (int i = from; i < end; i++) {
                    d.put(src[i]);
                }
                break;
            }
            case FLOAT16: {
                ShortBuffer s = le.asShortBuffer();
                for (int i = from; i < end; i++) {
                    s.put(Float16.fromFloat(src[i]));
                }
                break;
            }
            case BFLOAT16: {
                ShortBuffer s = le.asShortBuffer();
                for (int i = from; i < end; i++) {
                    s.put(BFloat16.fromFloat(src[i]));
                }
                break;
            }
            case UINT8: // quantized codes, given as the integers 0 to 255
                for (int i = from; i < end; i++) {
                    le.put((byte) (int) src[i]);
                }
                break;
            default:
                throw new IllegalArgumentException(type.displayName() + " is not a floating-point type");
        }
        dst.position(dst.position() + (int) type.byteLength(count));
    }
}
