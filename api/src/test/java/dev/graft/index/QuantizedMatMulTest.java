package dev.graft.index;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.UnsupportedModelException;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.Decoders;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** MatMulNBits weights Graft cannot read are refused, naming the file, the codes tensor and what is wrong. */
class QuantizedMatMulTest {
    @TempDir
    Path dir;

    /** The int4 fixture with one attribute of its first MatMulNBits node set to {@code value}. */
    private Path withAttribute(String attribute, long value) throws IOException {
        ModelProto m = ModelProto.parseFrom(Files.readAllBytes(Decoders.model("int4/base/model.onnx")));
        ModelProto.Builder b = m.toBuilder();
        for (NodeProto.Builder n : b.getGraphBuilder().getNodeBuilderList()) {
            if (n.getOpType().equals("MatMulNBits")) {
                n.addAttribute(AttributeProto.newBuilder().setName(attribute).setType(AttributeProto.AttributeType.INT)
                        .setI(value));
                for (int i = 0; i < n.getAttributeCount() - 1; i++) {
                    if (n.getAttribute(i).getName().equals(attribute)) {
                        n.removeAttribute(i);
                        break;
                    }
                }
                break;
            }
        }
        Path out = dir.resolve(attribute + value + ".onnx");
        Files.write(out, b.build().toByteArray());
        return out;
    }

    @Test
    void attributesOutsideTheFormatAndPrepackedWeightsAreRefused() throws IOException {
        for (Object[] c : new Object[][] {{"bits", 3L, "bits must be 2, 4 or 8, got 3"},
                {"block_size", 24L, "block_size must be a power of 2 of at least 16, got 24"},
                {"weight_prepacked", 1L, "is prepacked for a device"}}) {
            Path bad = withAttribute((String) c[0], (Long) c[1]);
            try (OnnxModel m = OnnxModel.open(bad)) {
                assertThatThrownBy(() -> QuantizedMatMul.find(m)).isInstanceOf(UnsupportedModelException.class)
                        .hasMessageContaining(bad.toString()).hasMessageContaining(".weight_Q4")
                        .hasMessageContaining((String) c[2]);
            }
        }
        try (OnnxModel m = OnnxModel.open(Decoders.model("int4/base/model.onnx"))) {
            assertThat(QuantizedMatMul.find(m)).hasSize(15);
        }
    }

    /**
     * Float zero points (ONNX Runtime's HQQ layout) are read; zero points of another type, or of a count that does not
     * match the scales, are refused naming the file and the tensor.
     */
    @Test
    void zeroPointsOfAnotherTypeOrCountAreRefused() throws IOException {
        String zp = "model.layers.0.self_attn.q_proj.MatMul.weight_zp";
        try (OnnxModel m = OnnxModel.open(Decoders.model("int4_hqq/base/model.onnx"))) {
            assertThat(QuantizedMatMul.find(m)).hasSize(15).allSatisfy(q -> assertThat(q.quantization().zeroPoints())
                    .isEqualTo(dev.graft.tensor.BlockQuantization.ZeroPoints.FLOAT));
        }
        for (Object[] c : new Object[][] {{TensorProto.DataType.INT32, 64, "holds zero points as int32"},
                {TensorProto.DataType.FLOAT, 10, "has 10 zero points but node"}}) {
            ModelProto.Builder b = ModelProto.parseFrom(Files.readAllBytes(Decoders.model("int4_hqq/base/model.onnx")))
                    .toBuilder();
            for (TensorProto.Builder t : b.getGraphBuilder().getInitializerBuilderList()) {
                if (t.getName().equals(zp)) {
                    t.clear().setName(zp).setDataType(((TensorProto.DataType) c[0]).getNumber()).addDims((Integer) c[1])
                            .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[4 * (Integer) c[1]]));
                }
            }
            Path bad = dir.resolve("zp" + c[1] + ".onnx");
            Files.write(bad, b.build().toByteArray());
            try (OnnxModel m = OnnxModel.open(bad)) {
                assertThatThrownBy(() -> QuantizedMatMul.find(m)).isInstanceOf(UnsupportedModelException.class)
                        .hasMessageContaining(bad.toString()).hasMessageContaining(zp)
                        .hasMessageContaining((String) c[2]);
            }
        }
    }
}
