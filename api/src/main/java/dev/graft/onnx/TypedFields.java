package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.ModelFormatException;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;

/**
 * Converts a tensor stored in typed fields ({@code float_data}, {@code int32_data}, ...) into
 * {@code raw_data} layout. float16 and bfloat16 sit in {@code int32_data}, one 16-bit pattern per entry.
 */
final class TypedFields {
    private TypedFields() {
    }

    static ByteBuffer toRawData(Path file, String tensor, ElementType type, TensorProto p, long count) {
        long bytes = type.byteLength(count);
        if (bytes < 0 || bytes > Integer.MAX_VALUE) {
            throw new ModelFormatException(file, tensor, "typed-field tensor too large to convert");
        }
        ByteBuffer out = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case FLOAT: case COMPLEX64:
                p.getFloatDataList().forEach(out::putFloat);
                break;
            case DOUBLE: case COMPLEX128:
                p.getDoubleDataList().forEach(out::putDouble);
                break;
            case INT64:
                p.getInt64DataList().forEach(out::putLong);
                break;
            case UINT64:
                p.getUint64DataList().forEach(out::putLong);
                break;
            case UINT32:
                p.getUint64DataList().forEach(v -> out.putInt((int) (long) v));
                break;
            case INT32:
                p.getInt32DataList().forEach(out::putInt);
                break;
            case INT16: case UINT16: case FLOAT16: case BFLOAT16:
                p.getInt32DataList().forEach(v -> out.putShort((short) (int) v));
                break;
            case INT8: case UINT8: case BOOL:
            case FLOAT8E4M3FN: case FLOAT8E4M3FNUZ: case FLOAT8E5M2: case FLOAT8E5M2FNUZ:
                p.getInt32DataList().forEach(v -> out.put((byte) (int) v));
                break;
            default:
                throw new ModelFormatException(file, tensor,
                        type.displayName() + " in typed fields cannot be converted to raw bytes");
        }
        out.flip();
        return out.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }
}
