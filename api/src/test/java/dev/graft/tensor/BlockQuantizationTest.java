package dev.graft.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.index.QuantizedMatMul;
import dev.graft.index.GraphIndex;
import dev.graft.index.IndexedWeight;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import java.util.List;
import org.junit.jupiter.api.Test;

/** MatMulNBits' block quantization, against hand-made blocks and the int4 decoder fixtures. */
class BlockQuantizationTest {
    @Test
    void roundingIsCsRoundfHalvesAwayFromZero() {
        assertThat(BlockQuantization.roundf(2.5f)).isEqualTo(3f);
        assertThat(BlockQuantization.roundf(-2.5f)).isEqualTo(-3f);
        assertThat(BlockQuantization.roundf(3.5f)).isEqualTo(4f);
        assertThat(BlockQuantization.roundf(0.49999997f)).isEqualTo(0f);
        assertThat(BlockQuantization.roundf(-0.5f)).isEqualTo(-1f);
    }

    /**
     * One column of 16 values (one block): symmetric, the scale is the value of largest magnitude over −8, and on a
     * tie (here 2 and −2) the minimum; codes are {@code round(w/scale) + 8}, two to a byte, the first in the low bits.
     */
    @Test
    void aSymmetricBlockByHand() {
        BlockQuantization q = new BlockQuantization(16, 1, 4, 16, BlockQuantization.ZeroPoints.IMPLICIT);
        float[] w = {2f, -2f, 1f, 0.5f, 0f, 0.26f, -1f, 0.75f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f};
        BlockQuantization.Quantized out = q.quantize(w);
        assertThat(out.scales()).containsExactly(0.25f); // −2 / −8
        // w / 0.25 + 8: 16 → 15 (clamped), 0, 12, 10, 8, 9.04 → 9, 4, 11, then 8s
        assertThat(out.codes()[0] & 0xff).isEqualTo(15 | 0 << 4);
        assertThat(out.codes()[1] & 0xff).isEqualTo(12 | 10 << 4);
        assertThat(out.codes()[2] & 0xff).isEqualTo(8 | 9 << 4);
        assertThat(out.codes()[3] & 0xff).isEqualTo(4 | 11 << 4);
        float[] back = q.dequantize(out);
        assertThat(back).startsWith(1.75f, -2f, 1f, 0.5f, 0f, 0.25f, -1f, 0.75f);
    }

    /**
     * Columns taken as rows ({@code [columns, K]}, what merges in slices hold) quantize and dequantize as the same
     * columns of the {@code [K, N]} weight do, a range of columns at a time: asymmetric 4 bits with K padded (K = 40,
     * blocks of 16), symmetric 2 bits, and 4 bits with float zero points.
     */
    @Test
    void columnsAsRowsQuantizeAsTheWholeWeight() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (BlockQuantization q : List.of(new BlockQuantization(40, 7, 4, 16, BlockQuantization.ZeroPoints.PACKED),
                new BlockQuantization(32, 5, 2, 16, BlockQuantization.ZeroPoints.IMPLICIT),
                new BlockQuantization(48, 6, 4, 16, BlockQuantization.ZeroPoints.FLOAT))) {
            float[] w = new float[q.k() * q.n()];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) r.nextGaussian();
            }
            BlockQuantization.Quantized whole = q.quantize(w);
            float[] wholeBack = q.dequantize(whole);
            int from = 2;
            int columns = 3;
            float[] rows = new float[columns * q.k()];
            for (int c = 0; c < columns; c++) {
                for (int i = 0; i < q.k(); i++) {
                    rows[c * q.k() + i] = w[i * q.n() + from + c];
                }
            }
            BlockQuantization.Quantized part = q.quantizeColumns(rows, columns);
            int codes = q.blocks() * q.blockBytes();
            assertThat(part.codes()).containsExactly(java.util.Arrays.copyOfRange(whole.codes(), from * codes,
                    (from + columns) * codes));
            assertThat(part.scales()).containsExactly(java.util.Arrays.copyOfRange(whole.scales(), from * q.blocks(),
                    (from + columns) * q.blocks()));
            if (!q.symmetric()) {
                assertThat(part.zeroPoints()).containsExactly(java.util.Arrays.copyOfRange(whole.zeroPoints(),
                        from * q.blocks(), (from + columns) * q.blocks()));
            }
            float[] back = new float[columns * q.k()];
            q.dequantizeColumns(part, columns, back);
            for (int c = 0; c < columns; c++) {
                for (int i = 0; i < q.k(); i++) {
                    assertThat(back[c * q.k() + i]).isEqualTo(wholeBack[i * q.n() + from + c]);
                }
            }
        }
    }

    /** Asymmetric: scale (max − min)/15 over a range that includes 0, zero point round(−min/scale), packed. */
    @Test
    void anAsymmetricBlockByHand() {
        BlockQuantization q = new BlockQuantization(16, 1, 4, 16, BlockQuantization.ZeroPoints.PACKED);
        float[] w = new float[16];
        w[0] = 3f;
        w[1] = 1.5f;
        w[2] = 0.2f;
        BlockQuantization.Quantized out = q.quantize(w);
        assertThat(out.scales()).containsExactly(0.2f);
        assertThat(out.zeroPoints()).containsExactly(0f);
        assertThat(out.codes()[0] & 0xff).isEqualTo(15 | 8 << 4); // 3/0.2 = 15, 1.5/0.2 = 7.5 → 8
        assertThat(q.dequantize(out)[1]).isEqualTo(8 * 0.2f);
    }

    /**
     * Float zero points: scale (max − min)/15 over the block's own range (0 not included), zero point −min/scale not
     * rounded (here −5: the grid starts at the block's minimum 1).
     */
    @Test
    void aBlockWithAFloatZeroPointByHand() {
        BlockQuantization q = new BlockQuantization(16, 1, 4, 16, BlockQuantization.ZeroPoints.FLOAT);
        float[] w = new float[16];
        java.util.Arrays.fill(w, 1f);
        w[1] = 4f;
        w[2] = 2.5f;
        BlockQuantization.Quantized out = q.quantize(w);
        assertThat(out.scales()).containsExactly(0.2f); // (4 − 1)/15
        assertThat(out.zeroPoints()).containsExactly(-5f); // −1/0.2
        assertThat(out.codes()[0] & 0xff).isEqualTo(0 | 15 << 4); // 1·5 − 5 = 0, 4·5 − 5 = 15
        assertThat(out.codes()[1] & 0xf).isEqualTo(8); // 2.5·5 − 5 = 7.5 → 8
        assertThat(q.dequantize(out)[2]).isEqualTo(13 * 0.2f);
        assertThat(q.storedZeroPoints(out.zeroPoints(), 1)).containsExactly(-5f);
    }

    /** Packed zero points are two 4-bit codes to a byte per column, the first block's in the low bits. */
    @Test
    void packedZeroPointsPackAndUnpack() {
        BlockQuantization q = new BlockQuantization(48, 2, 4, 16, BlockQuantization.ZeroPoints.PACKED);
        float[] zp = {1, 2, 3, 15, 0, 7}; // 3 blocks in each of 2 columns
        float[] stored = q.storedZeroPoints(zp, 2);
        assertThat(stored).containsExactly(1 | 2 << 4, 3, 15, 7); // 2 bytes a column, the last half-used
        byte[] bytes = new byte[stored.length];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) stored[i];
        }
        assertThat(q.unpackZeroPoints(bytes, 2)).containsExactly(zp);
    }

    /**
     * A block on a fitted grid (scale 0.3, zero point 2.5, codes 3–9: not what round-to-nearest over its range gives)
     * keeps its stored form when its values are unchanged, and is quantized again by the rule when one changes.
     */
    @Test
    void anUnchangedBlockKeepsItsFittedGrid() {
        BlockQuantization q = new BlockQuantization(16, 1, 4, 16, BlockQuantization.ZeroPoints.FLOAT);
        byte[] codes = new byte[8];
        for (int i = 0; i < 16; i++) {
            codes[i / 2] |= (byte) ((3 + i % 7) << (4 * (i % 2)));
        }
        BlockQuantization.Quantized fitted = new BlockQuantization.Quantized(codes, new float[] {0.3f},
                new float[] {2.5f});
        float[] w = new float[16];
        q.dequantizeColumns(fitted, 1, w);
        assertThat(q.quantizeColumns(w, 1).scales()).doesNotContain(0.3f);
        BlockQuantization.Quantized kept = q.quantizeColumns(w, 1, fitted);
        assertThat(kept.codes()).containsExactly(codes);
        assertThat(kept.scales()).containsExactly(0.3f);
        assertThat(kept.zeroPoints()).containsExactly(2.5f);
        w[5] += 0.01f;
        assertThat(q.quantizeColumns(w, 1, fitted).scales()).doesNotContain(0.3f);
    }

    /**
     * The int4 fixtures were quantized from the float fixtures by make_decoders.py's copy of ONNX Runtime's rule;
     * quantizing the float weights here gives the same bytes, and quantizing a dequantized weight gives it back bit
     * for bit.
     */
    @Test
    void reproducesTheFixturesQuantizerAndRoundTripsBitForBit() {
        try (OnnxModel floats = OnnxModel.open(Decoders.model("optimum/base/model.onnx"));
             OnnxModel int4 = OnnxModel.open(Decoders.model("int4/base/model.onnx"))) {
            GraphIndex index = GraphIndex.of(floats);
            List<QuantizedMatMul> weights = QuantizedMatMul.find(int4);
            assertThat(weights).hasSize(15);
            for (QuantizedMatMul m : weights) {
                String module = m.codes().name().substring(0, m.codes().name().indexOf(".MatMul."));
                IndexedWeight original = index.weights().stream().filter(w -> w.modulePath().equals(module))
                        .findFirst().orElseThrow();
                BlockQuantization.Quantized stored = m.stored();
                BlockQuantization.Quantized here = m.quantization().quantize(original.weight().toFloats());
                assertThat(here.codes()).as(module).containsExactly(stored.codes());
                assertThat(here.scales()).as(module).containsExactly(stored.scales());
                BlockQuantization.Quantized again = m.quantization().quantize(m.dequantize());
                assertThat(again.codes()).as(module).containsExactly(stored.codes());
                assertThat(again.scales()).as(module).containsExactly(stored.scales());
            }
        }
    }
}
