package dev.graft.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.testing.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AffineLayerTest {
    @TempDir
    Path dir;

    /** The tiny MLP's two layers: a MatMul with its bias Add ([in, out]) and a Gemm with transB ([out, in]). */
    @Test
    void findsDenseLayersWithTheirBiasesAndLayouts() {
        Path file = TinyModels.save(TinyModels.mlp(1), dir.resolve("mlp.onnx"));
        try (OnnxModel m = OnnxModel.open(file)) {
            List<AffineLayer> layers = AffineLayer.find(m);
            assertThat(layers).extracting(AffineLayer::weight).containsExactly("W1", "W2");
            AffineLayer first = layers.get(0);
            long[] w1 = m.weight("W1").orElseThrow().shape();
            assertThat(first.outIn()).isFalse();
            assertThat(first.bias()).isEqualTo("b1");
            assertThat(first.input()).isEqualTo("x");
            assertThat(first.output()).isEqualTo("h1");
            assertThat(new long[] {first.in(), first.out()}).containsExactly(w1);
            AffineLayer second = layers.get(1);
            long[] w2 = m.weight("W2").orElseThrow().shape();
            assertThat(second.outIn()).isTrue();
            assertThat(second.bias()).isEqualTo("b2");
            assertThat(new long[] {second.out(), second.in()}).containsExactly(w2);
            assertThat(second.shape(7, 5)).containsExactly(5, 7);
        }
    }

    /** The nodes downstream of a value, and a low-rank branch and a rename as edits of a copy. */
    @Test
    void branchesAndEditsFollowTheGraph() {
        Path file = TinyModels.save(TinyModels.mlp(1), dir.resolve("mlp.onnx"));
        try (OnnxModel m = OnnxModel.open(file)) {
            Branch b = Branch.from(m, "h2");
            assertThat(b.nodes()).extracting(Branch.Node::opType).containsExactly("Gemm", "Reshape");
            assertThat(b.produces("y")).isTrue();
            assertThat(b.produces("h1")).isFalse();
            assertThat(b.holds("/layer.1/fc/Gemm", "W2")).isTrue();
            GraphEdit edit = GraphEdit.of(m);
            GraphEdit.DenseNode dense = edit.denseNodesReading(Set.of("W1")).get(0);
            edit.addLowRankBranch(dense, "A", "B", "/lora").renameInputs(Map.of("W2", "W2.shared"));
            List<NodeProto> nodes = edit.build().getGraph().getNodeList();
            assertThat(nodes).extracting(NodeProto::getOpType)
                    .containsExactly("MatMul", "MatMul", "MatMul", "Add", "Add", "Relu", "Gemm", "Reshape");
            assertThat(nodes.get(0).getOutput(0)).isEqualTo("h0.lora_base");
            assertThat(nodes.get(3).getOutput(0)).isEqualTo("h0");
            assertThat(nodes.get(6).getInputList()).containsExactly("h2", "W2.shared", "b2");
            assertThat(m.proto().getGraph().getNodeCount()).isEqualTo(5); // the model itself is not changed
        }
    }

    /** A grouped convolution is not a layer view: a GraftException names the model file and the weight. */
    @Test
    void aGroupedConvolutionIsRefusedNamingFileAndWeight() {
        GraphProto.Builder g = GraphProto.newBuilder().setName("grouped")
                .addInput(TinyModels.floatInput("x", "N", 4))
                .addOutput(TinyModels.floatInput("y", "N", 4))
                .addInitializer(TinyModels.floats("conv.weight", TinyModels.random(new Random(1), 72), 4, 2, 3, 3))
                .addNode(TinyModels.node("Conv", "/conv", new String[] {"x", "conv.weight"}, "y").toBuilder()
                        .addAttribute(TinyModels.intAttr("group", 2)).build());
        Path file = TinyModels.save(TinyModels.model(g), dir.resolve("grouped.onnx"));
        try (OnnxModel m = OnnxModel.open(file)) {
            assertThatThrownBy(() -> AffineLayer.find(m)).isInstanceOf(GraftException.class)
                    .hasMessageContaining("grouped.onnx").hasMessageContaining("conv.weight")
                    .hasMessageContaining("grouped convolution");
        }
    }
}
