package dev.graft.onnx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import dev.graft.GraftException;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.Float16;
import dev.graft.testing.TinyModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxWriterTest {
    @TempDir
    Path dir;
    private final Verifier verifier = new Verifier(ProbeOptions.defaults());

    private static List<OutputTensor> copies(OnnxModel m) {
        List<OutputTensor> out = new ArrayList<>();
        for (Weight w : m.initializers()) {
            out.add(OutputTensor.copyOf(w));
        }
        return out;
    }

    private Path rewrite(Path in, Path out, WriteOptions options) {
        try (OnnxModel m = OnnxModel.open(in)) {
            OnnxWriter.write(m.proto(), copies(m), out, options);
        }
        return out;
    }

    @Test
    void rewrittenModelIsTheSameProtobufAndComputesIdentically() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(5), dir.resolve("in.onnx"));
        Path out = rewrite(in, dir.resolve("out.onnx"), WriteOptions.defaults());
        assertThat(ModelProto.parseFrom(Files.readAllBytes(out))).isEqualTo(ModelProto.parseFrom(Files.readAllBytes(in)));
        assertThat(verifier.verify(out, in).maxAbs()).isZero();
    }

    @Test
    void externalDataRoundTripIsLosslessAndBackToInlineIsByteIdentical() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(6), dir.resolve("in.onnx"));
        Path inline1 = rewrite(in, dir.resolve("inline1.onnx"), WriteOptions.defaults());
        Path ext = rewrite(inline1, dir.resolve("ext.onnx"),
                WriteOptions.defaults().withLayout(WriteOptions.Layout.EXTERNAL).withInlineBelow(0));
        assertThat(dir.resolve("ext.onnx.data")).exists();
        try (OnnxModel m = OnnxModel.open(ext)) {
            assertThat(m.weight("W1").orElseThrow().storage()).isEqualTo(Weight.Storage.EXTERNAL);
            assertThat(m.weight("shape").orElseThrow().storage()).as("typed fields stay verbatim")
                    .isEqualTo(Weight.Storage.TYPED);
        }
        assertThat(verifier.verify(ext, in).maxAbs()).isZero();
        Path inline2 = rewrite(ext, dir.resolve("inline2.onnx"), WriteOptions.defaults().withLayout(WriteOptions.Layout.INLINE));
        assertThat(Files.readAllBytes(inline2)).isEqualTo(Files.readAllBytes(inline1));
    }

    @Test
    void largeTensorsAreAlignedAndEveryEntryHasOffsetAndLength() {
        Path in = TinyModels.save(TinyModels.mlp(7), dir.resolve("in.onnx"));
        float[] big = new float[300_000];
        try (OnnxModel m = OnnxModel.open(in)) {
            List<OutputTensor> tensors = copies(m);
            tensors.add(0, OutputTensor.of("unused_small", ElementType.FLOAT, new long[] {3}, () -> new float[] {1, 2, 3}));
            tensors.add(1, OutputTensor.of("unused_big", ElementType.FLOAT, new long[] {big.length}, () -> big));
            OnnxWriter.write(m.proto(), tensors, dir.resolve("out.onnx"),
                    WriteOptions.defaults().withLayout(WriteOptions.Layout.EXTERNAL).withInlineBelow(0));
        }
        try (OnnxModel out = OnnxModel.open(dir.resolve("out.onnx"))) {
            for (Weight w : out.initializers()) {
                if (w.storage() == Weight.Storage.EXTERNAL) {
                    Map<String, String> keys = w.proto().getExternalDataList().stream()
                            .collect(Collectors.toMap(StringStringEntryProto::getKey, StringStringEntryProto::getValue));
                    assertThat(keys).containsKeys("location", "offset", "length");
                    if (w.byteLength() >= WriteOptions.ALIGN_ABOVE) {
                        assertThat(Long.parseLong(keys.get("offset")) % WriteOptions.ALIGNMENT).isZero();
                    }
                }
            }
            assertThat(out.weight("unused_big").orElseThrow().toFloats()).containsOnly(0f);
        }
    }

    @Test
    void weightsCanBeAddedAndRemoved() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(13), dir.resolve("in.onnx"));
        Path added = dir.resolve("added.onnx");
        try (OnnxModel m = OnnxModel.open(in)) {
            List<OutputTensor> tensors = copies(m);
            tensors.add(OutputTensor.of("extra", ElementType.FLOAT, new long[] {2}, () -> new float[] {5, 6}));
            OnnxWriter.write(m.proto(), tensors, added, WriteOptions.defaults());
        }
        Path removed = dir.resolve("removed.onnx");
        try (OnnxModel m = OnnxModel.open(added)) {
            assertThat(m.weight("extra").orElseThrow().toFloats()).containsExactly(5f, 6f);
            List<OutputTensor> tensors = copies(m);
            tensors.removeIf(t -> t.name().equals("extra"));
            OnnxWriter.write(m.proto(), tensors, removed, WriteOptions.defaults());
        }
        assertThat(Files.readAllBytes(removed)).isEqualTo(Files.readAllBytes(
                rewrite(in, dir.resolve("plain.onnx"), WriteOptions.defaults())));
    }

    @Test
    void halfPrecisionStorageKeepsTheGraphComputingInFloat32() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(8), dir.resolve("in.onnx"));
        Path half = dir.resolve("half.onnx");
        try (OnnxModel m = OnnxModel.open(in)) {
            List<OutputTensor> tensors = new ArrayList<>();
            for (Weight w : m.initializers()) {
                tensors.add(w.type() == ElementType.FLOAT
                        ? OutputTensor.like(w, ElementType.FLOAT16, w::toFloats)
                        : OutputTensor.copyOf(w));
            }
            OnnxWriter.write(m.proto(), tensors, half, WriteOptions.defaults());
        }
        try (OnnxModel h = OnnxModel.open(half); OnnxModel orig = OnnxModel.open(in)) {
            Weight w1 = h.weight("W1").orElseThrow();
            assertThat(w1.type()).isEqualTo(ElementType.FLOAT16);
            float[] o = orig.weight("W1").orElseThrow().toFloats();
            float[] got = w1.toFloats();
            for (int i = 0; i < o.length; i++) {
                assertThat(got[i]).isEqualTo(Float16.toFloat(Float16.fromFloat(o[i])));
            }
            assertThat(h.proto().getGraph().getNodeList()).filteredOn(n -> n.getOpType().equals("Cast")).hasSize(4);
        }
        VerifyReport r = verifier.verify(half, in);
        assertThat(r.maxAbs()).isGreaterThan(0).isLessThan(1e-2);
        // and back to float32: the Cast nodes go away and the graph is the original again
        Path back = dir.resolve("back.onnx");
        try (OnnxModel h = OnnxModel.open(half)) {
            List<OutputTensor> tensors = new ArrayList<>();
            for (Weight w : h.initializers()) {
                tensors.add(w.type() == ElementType.FLOAT16
                        ? OutputTensor.like(w, ElementType.FLOAT, w::toFloats)
                        : OutputTensor.copyOf(w));
            }
            OnnxWriter.write(h.proto(), tensors, back, WriteOptions.defaults());
        }
        ModelProto original = ModelProto.parseFrom(Files.readAllBytes(in));
        ModelProto restored = ModelProto.parseFrom(Files.readAllBytes(back));
        assertThat(restored.getGraph().getNodeList()).isEqualTo(original.getGraph().getNodeList());
    }

    @Test
    void bfloat16StorageRunsOnOpset13AndLaterWithinTolerance() {
        Path in = TinyModels.save(TinyModels.mlp(12), dir.resolve("in.onnx"));
        Path bf16 = dir.resolve("bf16.onnx");
        dev.graft.Graft.convert(in).dtype(ElementType.BFLOAT16).writeTo(bf16);
        VerifyReport r = verifier.verify(bf16, in);
        // bfloat16 keeps 8 significant bits: relative error per weight at most 2^-8 ≈ 3.9e-3
        assertThat(r.maxRel()).isGreaterThan(0).isLessThan(5e-2);
    }

    @Test
    void provenanceReplacesGraftEntriesAndKeepsOthers() throws IOException {
        ModelProto m = TinyModels.mlp(9).toBuilder()
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("author").setValue("someone"))
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("graft.operation").setValue("old"))
                .build();
        Path in = TinyModels.save(m, dir.resolve("in.onnx"));
        Path out;
        try (OnnxModel model = OnnxModel.open(in)) {
            Provenance p = new Provenance("convert", Map.of("dtype", "float16"), List.of(Provenance.Input.of(model)));
            out = rewrite(in, dir.resolve("out.onnx"), WriteOptions.defaults().withProvenance(p));
        }
        Map<String, String> props = ModelProto.parseFrom(Files.readAllBytes(out)).getMetadataPropsList().stream()
                .collect(Collectors.toMap(StringStringEntryProto::getKey, StringStringEntryProto::getValue));
        assertThat(props).containsEntry("author", "someone").containsEntry("graft.operation", "convert")
                .containsKey("graft.version").containsEntry("graft.parameters", "{\"dtype\":\"float16\"}");
        assertThat(props.get("graft.inputs")).contains("in.onnx").contains(
                com.google.common.hash.Hashing.sha256().hashBytes(Files.readAllBytes(in)).toString());
        try (OnnxModel written = OnnxModel.open(out); OnnxModel input = OnnxModel.open(in)) {
            assertThat(Provenance.of(written)).as("read back as written").isEqualTo(new Provenance("convert",
                    Map.of("dtype", "float16"), List.of(Provenance.Input.of(input))));
        }
        try (OnnxModel plain = OnnxModel.open(TinyModels.save(TinyModels.mlp(9), dir.resolve("plain.onnx")))) {
            assertThat(Provenance.of(plain)).as("a model Graft did not write").isNull();
        }
        ModelProto broken = ModelProto.parseFrom(Files.readAllBytes(out)).toBuilder().addMetadataProps(
                StringStringEntryProto.newBuilder().setKey("graft.inputs").setValue("[{\"file\": 3"))
                .build();
        Path bad = dir.resolve("bad.onnx");
        Files.write(bad, broken.toByteArray());
        try (OnnxModel damaged = OnnxModel.open(bad)) {
            assertThatThrownBy(() -> Provenance.of(damaged)).isInstanceOf(dev.graft.ModelFormatException.class)
                    .hasMessageContaining("bad.onnx").hasMessageContaining("graft.inputs");
        }
    }

    @Test
    void aFailureMidwayLeavesNoTargetAndNoTemporaryFiles() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(10), dir.resolve("in.onnx"));
        Path out = dir.resolve("out.onnx");
        for (WriteOptions.Layout layout : WriteOptions.Layout.values()) {
            try (OnnxModel m = OnnxModel.open(in)) {
                List<OutputTensor> tensors = copies(m);
                tensors.set(2, OutputTensor.like(m.initializers().get(2), ElementType.FLOAT, () -> {
                    throw new IllegalStateException("disk on fire");
                }));
                assertThatThrownBy(() -> OnnxWriter.write(m.proto(), tensors, out,
                        WriteOptions.defaults().withLayout(layout).withInlineBelow(0)))
                        .isInstanceOf(GraftException.class).hasMessageContaining("'W2'").hasMessageContaining("disk on fire");
            }
            try (Stream<Path> files = Files.list(dir)) {
                assertThat(files.map(p -> p.getFileName().toString())).containsExactly("in.onnx");
            }
        }
    }

    /**
     * When the model cannot be moved into place after its data file was (here a folder that is not empty appears
     * at the target while the tensors are written), the data file there before is put back, byte for byte, or this
     * run's data removed if there was none; no temporary file or link stays.
     */
    @Test
    void aModelThatCannotBeMovedInLeavesThePreviousDataFile() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(12), dir.resolve("in.onnx"));
        WriteOptions external = WriteOptions.defaults().withLayout(WriteOptions.Layout.EXTERNAL).withInlineBelow(0);
        for (boolean hadData : new boolean[] {true, false}) {
            Path folder = Files.createDirectories(dir.resolve("had-data-" + hadData));
            Path out = folder.resolve("out.onnx");
            byte[] previous = "the previous model's data".getBytes(java.nio.charset.StandardCharsets.UTF_8);
            if (hadData) {
                Files.write(folder.resolve("out.onnx.data"), previous);
            }
            for (WriteOptions options : new WriteOptions[] {external, WriteOptions.defaults()}) {
                try (OnnxModel m = OnnxModel.open(in)) {
                    List<OutputTensor> tensors = copies(m);
                    int k = tensors.size() - 1;
                    while (!m.initializers().get(k).type().isFloatingPoint()) {
                        k--;
                    }
                    Weight last = m.initializers().get(k);
                    tensors.set(k, OutputTensor.like(last, last.type(), () -> {
                        Files.createDirectories(out.resolve("in-the-way"));
                        return last.toFloats();
                    }));
                    assertThatThrownBy(() -> OnnxWriter.write(m.proto(), tensors, out, options))
                            .isInstanceOf(GraftException.class).hasMessageContaining(out.toString());
                }
                try (Stream<Path> files = Files.list(folder)) {
                    assertThat(files.map(p -> p.getFileName().toString())).as(options.layout().toString())
                            .containsExactlyInAnyOrder(hadData ? new String[] {"out.onnx", "out.onnx.data"}
                                    : new String[] {"out.onnx"});
                }
                if (hadData) {
                    assertThat(Files.readAllBytes(folder.resolve("out.onnx.data"))).isEqualTo(previous);
                }
                Files.delete(out.resolve("in-the-way"));
                Files.delete(out);
            }
        }
    }

    @Test
    void wrongDataSizeIsRefused() {
        Path in = TinyModels.save(TinyModels.mlp(11), dir.resolve("in.onnx"));
        try (OnnxModel m = OnnxModel.open(in)) {
            List<OutputTensor> tensors = copies(m);
            tensors.set(0, OutputTensor.like(m.initializers().get(0), ElementType.FLOAT, () -> new float[3]));
            assertThatThrownBy(() -> OnnxWriter.write(m.proto(), tensors, dir.resolve("out.onnx"), WriteOptions.defaults()))
                    .isInstanceOf(GraftException.class).hasMessageContaining("'W1'").hasMessageContaining("got 3 values, expected 32");
        }
        assertThat(dir.resolve("out.onnx")).doesNotExist();
    }

    /**
     * A streamed tensor's slices, handed over out of order and in both layouts, land at their places (the file equals
     * the one written from the whole array); missing or out-of-range entries are refused naming the tensor.
     */
    @Test
    void streamedSlicesLandAtTheirPlaces() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(14), dir.resolve("in.onnx"));
        for (WriteOptions.Layout layout : WriteOptions.Layout.values()) {
            WriteOptions options = WriteOptions.defaults().withLayout(layout).withInlineBelow(0);
            // the same file name in two folders: the model names its data file
            Path whole = Files.createDirectories(dir.resolve("whole-" + layout)).resolve("m.onnx");
            Path sliced = Files.createDirectories(dir.resolve("sliced-" + layout)).resolve("m.onnx");
            try (OnnxModel m = OnnxModel.open(in)) {
                Weight w = m.initializers().get(0);
                float[] v = w.toFloats();
                List<OutputTensor> tensors = copies(m);
                tensors.set(0, OutputTensor.like(w, ElementType.FLOAT16, () -> v.clone()));
                OnnxWriter.write(m.proto(), tensors, whole, options);
                tensors.set(0, OutputTensor.streamed(w, ElementType.FLOAT16, sink -> {
                    for (int from = v.length - 5; from > -5; from -= 5) { // backwards, in slices of 5
                        int start = Math.max(0, from);
                        sink.accept(start, v, start, from + 5 - start);
                    }
                }));
                OnnxWriter.write(m.proto(), tensors, sliced, options);
            }
            assertThat(Files.readAllBytes(sliced)).isEqualTo(Files.readAllBytes(whole));
            if (layout == WriteOptions.Layout.EXTERNAL) {
                assertThat(Files.readAllBytes(sliced.resolveSibling("m.onnx.data")))
                        .isEqualTo(Files.readAllBytes(whole.resolveSibling("m.onnx.data")));
            }
        }
        try (OnnxModel m = OnnxModel.open(in)) {
            Weight w = m.initializers().get(0);
            List<OutputTensor> missing = copies(m);
            missing.set(0, OutputTensor.streamed(w, ElementType.FLOAT, sink -> sink.accept(0, new float[4], 0, 4)));
            assertThatThrownBy(() -> OnnxWriter.write(m.proto(), missing, dir.resolve("out.onnx"),
                    WriteOptions.defaults())).isInstanceOf(GraftException.class).hasMessageContaining("'W1'")
                    .hasMessageContaining("got 4 values in slices, expected 32");
            List<OutputTensor> outside = copies(m);
            outside.set(0, OutputTensor.streamed(w, ElementType.FLOAT, sink -> sink.accept(30, new float[4], 0, 4)));
            assertThatThrownBy(() -> OnnxWriter.write(m.proto(), outside, dir.resolve("out.onnx"),
                    WriteOptions.defaults())).isInstanceOf(GraftException.class).hasMessageContaining("'W1'")
                    .hasMessageContaining("slice of entries [30, 34), outside the tensor's 32 entries");
        }
        assertThat(dir.resolve("out.onnx")).doesNotExist();
    }
}
