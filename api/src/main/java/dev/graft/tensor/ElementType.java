package dev.graft.tensor;

import dev.graft.InvalidSettingException;
import dev.graft.ModelFormatException;
import java.nio.file.Path;

/**
 * ONNX tensor element types ({@code TensorProto.DataType}), with their storage width. Graft reads the
 * floating-point ones as float32 values and carries the others through untouched.
 */
public enum ElementType {
    FLOAT(1, 32, "float32"),
    UINT8(2, 8, "uint8"),
    INT8(3, 8, "int8"),
    UINT16(4, 16, "uint16"),
    INT16(5, 16, "int16"),
    INT32(6, 32, "int32"),
    INT64(7, 64, "int64"),
    STRING(8, 0, "string"),
    BOOL(9, 8, "bool"),
    FLOAT16(10, 16, "float16"),
    DOUBLE(11, 64, "float64"),
    UINT32(12, 32, "uint32"),
    UINT64(13, 64, "uint64"),
    COMPLEX64(14, 64, "complex64"),
    COMPLEX128(15, 128, "complex128"),
    BFLOAT16(16, 16, "bfloat16"),
    FLOAT8E4M3FN(17, 8, "float8e4m3fn"),
    FLOAT8E4M3FNUZ(18, 8, "float8e4m3fnuz"),
    FLOAT8E5M2(19, 8, "float8e5m2"),
    FLOAT8E5M2FNUZ(20, 8, "float8e5m2fnuz"),
    UINT4(21, 4, "uint4"),
    INT4(22, 4, "int4"),
    FLOAT4E2M1(23, 4, "float4e2m1");

    private final int code;
    private final int bits;
    private final String displayName;

    ElementType(int code, int bits, String displayName) {
        this.code = code;
        this.bits = bits;
        this.displayName = displayName;
    }

    /** The {@code TensorProto.DataType} number. */
    public int code() {
        return code;
    }

    /** Bits per element in {@code raw_data}; 0 for strings, which have no fixed width. */
    public int bits() {
        return bits;
    }

    /** The short name used in reports and on the command line, e.g. {@code float16}. */
    public String displayName() {
        return displayName;
    }

    /** True for the types Graft reads as float32 values: float32, float16, bfloat16, float64. */
    public boolean isFloatingPoint() {
        return this == FLOAT || this == FLOAT16 || this == BFLOAT16 || this == DOUBLE;
    }

    /** Bytes taken by {@code count} elements in {@code raw_data}, or -1 on overflow. */
    public long byteLength(long count) {
        if (bits == 0 || count < 0) {
            return -1;
        }
        long bitsTotal;
        try {
            bitsTotal = Math.multiplyExact(count, (long) bits);
        } catch (ArithmeticException e) {
            return -1;
        }
        return (bitsTotal + 7) / 8;
    }

    /** Looks up a {@code TensorProto.DataType} number; an unknown one is a format error naming the tensor. */
    public static ElementType fromCode(int code, Path file, String tensor) {
        for (ElementType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        throw new ModelFormatException(file, tensor,
                "unknown element type " + code + " (expected a TensorProto.DataType from 1 to 23)");
    }

    /**
     * Parses a user-facing name such as {@code fp16}, {@code float16}, {@code bf16} or {@code fp32}.
     *
     * @throws InvalidSettingException if {@code name} is none of these
     */
    public static ElementType parseFloatType(String name) {
        switch (name.toLowerCase(java.util.Locale.ROOT)) {
            case "fp32": case "float32": case "float": return FLOAT;
            case "fp16": case "float16": case "half": return FLOAT16;
            case "bf16": case "bfloat16": return BFLOAT16;
            default:
                throw new InvalidSettingException(
                        "unknown output element type '" + name + "' (expected fp32, fp16 or bf16)");
        }
    }
}
