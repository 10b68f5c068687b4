package dev.graft;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import dev.graft.tensor.ElementType;
import dev.graft.testing.RealModels;
import dev.graft.verify.ProbeOptions;
import dev.graft.verify.Verifier;
import dev.graft.verify.VerifyReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Read→write round trips of real pretrained transformers, checked by running them in ONNX Runtime. */
class RealModelRoundTripTest {
    @TempDir
    Path dir;
    private final Verifier verifier = new Verifier(new ProbeOptions(2, 16, 1, 2));

    @Test
    void readWriteGivesBitIdenticalOutputs() {
        for (Path model : new Path[] {RealModels.bgeSmall(), RealModels.miniLm()}) {
            Path out = dir.resolve("copy-" + model.getFileName());
            Graft.convert(model).writeTo(out);
            VerifyReport r = verifier.verify(out, model);
            assertThat(r.allFinite()).isTrue();
            assertThat(r.maxAbs()).as(model.toString()).isZero();
        }
    }

    @Test
    void inlineToExternalToInlineIsIdentical() throws IOException {
        Path model = RealModels.e5Small();
        Path inline1 = dir.resolve("inline1.onnx");
        Path ext = dir.resolve("ext.onnx");
        Path inline2 = dir.resolve("inline2.onnx");
        Graft.convert(model).layout(WriteOptions.Layout.INLINE).writeTo(inline1);
        Graft.convert(inline1).layout(WriteOptions.Layout.EXTERNAL).writeTo(ext);
        assertThat(Files.size(ext)).isLessThan(1_000_000);
        assertThat(Files.size(dir.resolve("ext.onnx.data"))).isGreaterThan(130_000_000);
        try (OnnxModel m = OnnxModel.open(ext)) {
            assertThat(m.weight("embeddings.word_embeddings.weight").orElseThrow().storage())
                    .isEqualTo(Weight.Storage.EXTERNAL);
        }
        assertThat(verifier.verify(ext, model).maxAbs()).isZero();
        Graft.convert(ext).layout(WriteOptions.Layout.INLINE).writeTo(inline2);
        assertThat(dir.resolve("inline2.onnx.data")).doesNotExist();
        // provenance differs only by the input hash; the model contents must be the same otherwise
        assertThat(withoutProvenance(inline2)).isEqualTo(withoutProvenance(inline1));
        assertThat(verifier.verify(inline2, model).maxAbs()).isZero();
    }

    private static ai.onnx.proto.OnnxMl.ModelProto withoutProvenance(Path p) throws IOException {
        return ai.onnx.proto.OnnxMl.ModelProto.parseFrom(Files.readAllBytes(p)).toBuilder().clearMetadataProps().build();
    }

    /**
     * float16 storage rounds each weight to 11 significant bits (relative error at most 2^-11); through six
     * layers that gives output errors of about 1e-3 relative to the largest output. Stated tolerance: 1e-2.
     * (bfloat16 storage is checked on an opset-17 model in OnnxWriterTest.) bge-small's published weights are all
     * exactly float16 values (checked independently with numpy), so for it float16 storage is lossless.
     */
    @Test
    void halfPrecisionConversionStaysWithinTolerance() throws IOException {
        Path minilm = RealModels.miniLm();
        Path fp16 = dir.resolve("fp16.onnx");
        ConvertBuilder.Report r = Graft.convert(minilm).dtype(ElementType.FLOAT16).writeTo(fp16);
        assertThat(r.converted()).isEqualTo(101);
        assertThat(Files.size(fp16)).isLessThan(Files.size(minilm) * 52 / 100);
        VerifyReport half = verifier.verify(fp16, minilm);
        System.out.printf("all-MiniLM-L6-v2 fp16: max abs %.3g, max rel %.3g%n", half.maxAbs(), half.maxRel());
        assertThat(half.maxRel()).isGreaterThan(0).isLessThan(1e-2);

        // opset 11 has no Cast from bfloat16: refused before anything is written
        Path bf16 = dir.resolve("bf16.onnx");
        assertThatThrownBy(() -> Graft.convert(minilm).dtype(ElementType.BFLOAT16).writeTo(bf16))
                .isInstanceOf(GraftException.class).hasMessageContaining("opset 11").hasMessageContaining("bfloat16");
        assertThat(bf16).doesNotExist();

        Path bge16 = dir.resolve("bge16.onnx");
        Graft.convert(RealModels.bgeSmall()).dtype(ElementType.FLOAT16).writeTo(bge16);
        assertThat(verifier.verify(bge16, RealModels.bgeSmall()).maxAbs()).isZero();
    }
}
