package dev.graft.index;

import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.UnsupportedModelException;
import dev.graft.onnx.Attributes;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.tensor.BlockQuantization;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@code com.microsoft.MatMulNBits} node whose quantized weight is in initializers: the {@code [K, N]} weight it
 * multiplies by, stored as codes, scales and optional zero points, packed uint8 or floats ({@link BlockQuantization}). Read as
 * float ({@link #dequantize}) so that merges and adapters work on the values, and written back with the same bits,
 * block size and symmetry ({@link #quantization}); the node and its {@code accuracy_level} stay as they are.
 *
 * @param node       the node's name
 * @param codes      the codes initializer (input B)
 * @param scales     the scales initializer
 * @param zeroPoints the zero points initializer (packed uint8, or floats of the scales' type), or null
 *                   (symmetric: implicit {@code 2^(bits−1)})
 */
public record QuantizedMatMul(String node, Weight codes, Weight scales, Weight zeroPoints,
                              BlockQuantization quantization) {
    /**
     * Every {@code MatMulNBits} of {@code model}'s main graph that reads its weight from initializers.
     *
     * @throws UnsupportedModelException naming the model and node for a layout Graft cannot read: a
     *                                   device-prepacked weight ({@code weight_prepacked}), zero points neither
     *                                   uint8 nor floating-point, attributes outside the format (bits other than
     *                                   2, 4 or 8; a block size that is not a power of 2 of at least 16), or
     *                                   shapes that disagree with K, N, bits and block
     */
    public static List<QuantizedMatMul> find(OnnxModel model) {
        List<QuantizedMatMul> out = new ArrayList<>();
        for (NodeProto n : model.proto().getGraph().getNodeList()) {
            if (!n.getOpType().equals("MatMulNBits") || !n.getDomain().equals("com.microsoft") || n.getInputCount() < 3) {
                continue;
            }
            Weight codes = model.weight(n.getInput(1)).orElse(null);
            Weight scales = model.weight(n.getInput(2)).orElse(null);
            if (codes == null || scales == null) {
                continue; // a weight fed at run time: nothing to merge
            }
            String name = n.getName().isEmpty() ? n.getOutput(0) : n.getName();
            if (Attributes.getInt(n, "weight_prepacked", 0) != 0) {
                throw new UnsupportedModelException(model.file(), codes.name(), "is prepacked for a device (node '"
                        + name + "', weight_prepacked); Graft reads MatMulNBits weights in their portable layout");
            }
            Weight zeroPoints = n.getInputCount() > 3 && !n.getInput(3).isEmpty()
                    ? model.weight(n.getInput(3)).orElse(null) : null;
            if (zeroPoints != null && zeroPoints.type() != ElementType.UINT8 && !zeroPoints.type().isFloatingPoint()) {
                throw new UnsupportedModelException(model.file(), zeroPoints.name(), "holds zero points as "
                        + zeroPoints.type().displayName() + " (node '" + name + "'); MatMulNBits zero points are "
                        + "packed uint8 or of the scales' floating-point type");
            }
            int k = (int) Attributes.getInt(n, "K", 0);
            int cols = (int) Attributes.getInt(n, "N", 0);
            int bits = (int) Attributes.getInt(n, "bits", 4);
            int block = (int) Attributes.getInt(n, "block_size", 0);
            String problem = BlockQuantization.problem(k, cols, bits, block);
            if (problem != null) {
                throw new UnsupportedModelException(model.file(), codes.name(), "is read by node '" + name
                        + "' whose MatMulNBits attributes Graft cannot read: " + problem);
            }
            BlockQuantization q = new BlockQuantization(k, cols, bits, block, zeroPoints == null
                    ? BlockQuantization.ZeroPoints.IMPLICIT : zeroPoints.type() == ElementType.UINT8
                    ? BlockQuantization.ZeroPoints.PACKED : BlockQuantization.ZeroPoints.FLOAT);
            QuantizedMatMul m = new QuantizedMatMul(name, codes, scales, zeroPoints, q);
            m.check(model);
            out.add(m);
        }
        return out;
    }

    /** {@link #find}'s weights by the name of each of their parts: codes, scales and zero points. */
    public static Map<String, QuantizedMatMul> byPart(OnnxModel model) {
        Map<String, QuantizedMatMul> parts = new HashMap<>();
        for (QuantizedMatMul q : find(model)) {
            parts.put(q.codes().name(), q);
            parts.put(q.scales().name(), q);
            if (q.zeroPoints() != null) {
                parts.put(q.zeroPoints().name(), q);
            }
        }
        return parts;
    }

    private void check(OnnxModel model) {
        BlockQuantization q = quantization;
        long[] expected = {q.n(), q.blocks(), q.blockBytes()};
        if (codes.type() != ElementType.UINT8 || !Arrays.equals(codes.shape(), expected)) {
            throw new UnsupportedModelException(model.file(), codes.name(), "is " + codes.type().displayName()
                    + Arrays.toString(codes.shape()) + " but node '" + node + "' (K=" + q.k() + ", N=" + q.n() + ", bits="
                    + q.bits() + ", block_size=" + q.block() + ") reads uint8" + Arrays.toString(expected));
        }
        if (!scales.type().isFloatingPoint() || scales.elementCount() != (long) q.n() * q.blocks()) {
            throw new UnsupportedModelException(model.file(), scales.name(), "has " + scales.elementCount()
                    + " scales but node '" + node + "' needs N·blocks = " + (long) q.n() * q.blocks());
        }
        if (zeroPoints != null && zeroPoints.elementCount() != (long) q.n() * q.zeroPointElements()) {
            throw new UnsupportedModelException(model.file(), zeroPoints.name(), "has " + zeroPoints.elementCount()
                    + " zero points but node '" + node + "' needs " + (q.zeroPoints() == BlockQuantization.ZeroPoints.PACKED
                    ? "N·ceil(blocks·bits/8) = " : "N·blocks = ") + (long) q.n() * q.zeroPointElements());
        }
    }

    /** The stored codes and scales, and the zero points unpacked. */
    public BlockQuantization.Quantized stored() {
        float[] z = switch (quantization.zeroPoints()) {
            case IMPLICIT -> null;
            case PACKED -> quantization.unpackZeroPoints(bytes(zeroPoints), quantization.n());
            case FLOAT -> zeroPoints.toFloats();
        };
        return new BlockQuantization.Quantized(bytes(codes), scales.toFloats(), z);
    }

    /** The {@code [K, N]} weight the node multiplies by, row-major. */
    public float[] dequantize() {
        return quantization.dequantize(stored());
    }

    /** The {@code [K, N]} weight into {@code out} (at least K·N entries), row-major. */
    public void dequantize(float[] out) {
        quantization.dequantize(stored(), out);
    }

    /**
     * The weight's transpose {@code [N, K]} into {@code out} (at least K·N entries): one row per output column, its
     * blocks contiguous, as merges hold a quantized weight ({@link BlockQuantization#dequantizeColumns}).
     */
    public void dequantizeColumns(float[] out) {
        quantization.dequantizeColumns(stored(), quantization.n(), out);
    }

    /** Reads the weight's columns in order, a range at a time, from the files; close after use. */
    public ColumnReader columns() {
        return new ColumnReader();
    }

    /**
     * Consecutive columns of the weight, read from its codes, scales and zero points in order (only the bytes of the
     * columns asked for are in memory) and dequantized as {@code [columns, K]} rows.
     */
    public final class ColumnReader implements AutoCloseable {
        private final dev.graft.onnx.WeightReader codeReader = codes.reader();
        private final dev.graft.onnx.WeightReader scaleReader = scales.reader();
        private final dev.graft.onnx.WeightReader zeroPointReader = zeroPoints == null ? null : zeroPoints.reader();

        private ColumnReader() {
        }

        /** Reads the next {@code columns} columns into {@code out} ({@code [columns, K]}, row-major). */
        public void read(int columns, float[] out) {
            quantization.dequantizeColumns(readStored(columns), columns, out);
        }

        /** The next {@code columns} columns as stored (zero points unpacked). */
        public BlockQuantization.Quantized readStored(int columns) {
            BlockQuantization q = quantization;
            byte[] c = new byte[columns * q.blocks() * q.blockBytes()];
            float[] s = new float[columns * q.blocks()];
            codeReader.readBytes(c, 0, c.length);
            scaleReader.read(s, 0, s.length);
            float[] z = null;
            if (q.zeroPoints() == BlockQuantization.ZeroPoints.PACKED) {
                byte[] packed = new byte[columns * q.zeroPointElements()];
                zeroPointReader.readBytes(packed, 0, packed.length);
                z = q.unpackZeroPoints(packed, columns);
            } else if (q.zeroPoints() == BlockQuantization.ZeroPoints.FLOAT) {
                z = new float[columns * q.blocks()];
                zeroPointReader.read(z, 0, z.length);
            }
            return new BlockQuantization.Quantized(c, s, z);
        }

        @Override
        public void close() {
            codeReader.close();
            scaleReader.close();
            if (zeroPointReader != null) {
                zeroPointReader.close();
            }
        }
    }

    /** Whether {@code other} has the same K, N, bits, block size and symmetry. */
    public boolean sameLayout(QuantizedMatMul other) {
        return quantization.equals(other.quantization);
    }

    private static byte[] bytes(Weight w) {
        ByteBuffer b = w.bytes();
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }
}
