package dev.graft.onnx;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.Float16;
import dev.graft.testing.TinyModels;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxModelTest {
    @TempDir
    Path dir;

    private static float[] floatsOf(ModelProto m, String name) {
        ByteBuffer b = ByteBuffer.wrap(ModelFiles.rawData(m, name)).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[b.remaining() / 4];
        b.asFloatBuffer().get(v);
        return v;
    }

    @Test
    void readsRawDataWithoutCopyingIt() {
        ModelProto m = TinyModels.mlp(1);
        try (OnnxModel model = OnnxModel.open(TinyModels.save(m, dir.resolve("m.onnx")))) {
            assertThat(model.initializers()).extracting(Weight::name).containsExactly("W1", "b1", "W2", "b2", "shape");
            Weight w1 = model.weight("W1").orElseThrow();
            assertThat(w1.type()).isEqualTo(ElementType.FLOAT);
            assertThat(w1.shape()).containsExactly(4, 8);
            assertThat(w1.storage()).isEqualTo(Weight.Storage.RAW);
            assertThat(w1.bytes().isDirect()).as("raw_data aliases the file mapping").isTrue();
            assertThat(w1.toFloats()).containsExactly(floatsOf(m, "W1"));
            Weight shape = model.weight("shape").orElseThrow();
            assertThat(shape.storage()).isEqualTo(Weight.Storage.TYPED);
            assertThat(shape.bytes().order(ByteOrder.LITTLE_ENDIAN).getLong(8)).isEqualTo(3);
        }
    }

    @Test
    void readsTypedFieldsHalfFloatsConstantsAndSubgraphs() {
        short[] halves = {Float16.fromFloat(1.5f), Float16.fromFloat(-0.25f)};
        TensorProto fp16 = TensorProto.newBuilder().setName("h").setDataType(ElementType.FLOAT16.code())
                .addDims(2).addInt32Data(halves[0] & 0xffff).addInt32Data(halves[1] & 0xffff).build();
        TensorProto typed = TensorProto.newBuilder().setName("t").setDataType(ElementType.FLOAT.code())
                .addDims(2).addFloatData(2f).addFloatData(3f).build();
        TensorProto dbl = TensorProto.newBuilder().setName("d").setDataType(ElementType.DOUBLE.code())
                .addDims(1).addDoubleData(0.5).build();
        NodeProto constant = NodeProto.newBuilder().setOpType("Constant").addOutput("c")
                .addAttribute(AttributeProto.newBuilder().setName("value").setType(AttributeProto.AttributeType.TENSOR)
                        .setT(TinyModels.floats("", new float[] {7f}, 1))).build();
        GraphProto thenBranch = GraphProto.newBuilder().setName("then")
                .addInitializer(TinyModels.floats("inner", new float[] {4f, 5f}, 2)).build();
        NodeProto ifNode = NodeProto.newBuilder().setOpType("If").setName("branch").addInput("cond").addOutput("o")
                .addAttribute(AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                        .setG(thenBranch)).build();
        ModelProto m = TinyModels.model(GraphProto.newBuilder().addInitializer(fp16).addInitializer(typed)
                .addInitializer(dbl).addNode(constant).addNode(ifNode));
        try (OnnxModel model = OnnxModel.open(TinyModels.save(m, dir.resolve("m.onnx")))) {
            assertThat(model.weight("h").orElseThrow().toFloats()).containsExactly(1.5f, -0.25f);
            assertThat(model.weight("t").orElseThrow().toFloats()).containsExactly(2f, 3f);
            assertThat(model.weight("d").orElseThrow().toFloats()).containsExactly(0.5f);
            Weight c = model.weight("c").orElseThrow();
            assertThat(c.origin()).isEqualTo(Weight.Origin.CONSTANT_NODE);
            assertThat(c.toFloats()).containsExactly(7f);
            Weight inner = model.weights().stream().filter(w -> w.name().equals("inner")).findFirst().orElseThrow();
            assertThat(inner.scope()).isEqualTo("branch/then_branch");
            assertThat(inner.toFloats()).containsExactly(4f, 5f);
            assertThat(model.weight("inner")).as("subgraph weights are not main-graph names").isEmpty();
        }
    }

    @Test
    void readsExternalDataByMappingOnlyTheTensorsRange() throws Exception {
        ModelProto m = TinyModels.mlp(2);
        byte[] w1 = ModelFiles.rawData(m, "W1");
        byte[] file = new byte[100 + w1.length];
        new Random(1).nextBytes(file);
        System.arraycopy(w1, 0, file, 100, w1.length);
        Files.write(dir.resolve("weights.bin"), file);
        ModelProto ext = ModelFiles.external(m, "W1", "weights.bin", 100, w1.length);
        try (OnnxModel model = OnnxModel.open(TinyModels.save(ext, dir.resolve("m.onnx")))) {
            Weight w = model.weight("W1").orElseThrow();
            assertThat(w.storage()).isEqualTo(Weight.Storage.EXTERNAL);
            assertThat(w.toFloats()).containsExactly(floatsOf(m, "W1"));
            assertThat(model.hasExternalData()).isTrue();
        }
    }

    @Test
    void hashesTheModelFile() throws Exception {
        Path a = TinyModels.save(TinyModels.mlp(3), dir.resolve("a.onnx"));
        String expected = com.google.common.hash.Hashing.sha256().hashBytes(Files.readAllBytes(a)).toString();
        try (OnnxModel model = OnnxModel.open(a)) {
            assertThat(model.sha256()).isEqualTo(expected);
        }
    }
}
