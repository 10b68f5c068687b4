package dev.graft.index;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
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
}
