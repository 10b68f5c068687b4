package dev.graft.examples.clients;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.inference.Predictor;
import ai.djl.huggingface.translator.TextEmbeddingTranslatorFactory;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import dev.graft.data.Calibration;
import dev.graft.eval.Pooling;
import dev.graft.verify.ModelRunner;
import dev.langchain4j.model.embedding.onnx.OnnxEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.PoolingMode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A model Graft merged (bge-small-en-v1.5 with e5-small-v2) embeds real sentences in LangChain4j's in-process
 * {@link OnnxEmbeddingModel} and in DJL (ONNX Runtime engine, Hugging Face text-embedding translator), in this JVM:
 * each library's vector is the one Graft's own ONNX Runtime run gives (the {@code graft eval} path: its tokenisation,
 * {@code last_hidden_state}, CLS pooling), L2-normalised, to 1e-4; and it is the merged model's, not an input's.
 */
class MergedModelInClientsTest {
    private static final Path MODELS = Path.of(System.getProperty("models.dir"));
    private static final Path BGE = MODELS.resolve("bge-small-en-v1.5.onnx");
    private static final Path TOKENIZER = MODELS.resolve("bge-small-en-v1.5-tokenizer.json");
    private static final List<String> SENTENCES = List.of(
            "Graft merges models trained from one base into one model.",
            "The weather in Lisbon is mild in December.",
            "A LoRA adapter adds a low-rank update to a dense layer.");
    private static Path merged;

    @BeforeAll
    static void merge() {
        merged = MergedEmbeddingModel.write(BGE, MODELS.resolve("e5-small-v2.onnx"), TOKENIZER,
                Path.of("target/merged"));
    }

    /** Graft's own embedding of {@code sentence} with {@code model}: one unpadded batch, CLS pooling, unit length. */
    private static float[] graft(Path model, String sentence) {
        Map<String, ModelRunner.Input> batch = Calibration.texts("test", List.of(sentence), TOKENIZER, 512)
                .batches().get(0);
        try (ModelRunner runner = new ModelRunner(model, 1)) {
            ModelRunner.Output out = runner.run(batch, Set.of("last_hidden_state")).get("last_hidden_state");
            return unit(Pooling.CLS.pool(out, batch.get("attention_mask").longs(), model, "last_hidden_state")[0]);
        }
    }

    private static float[] unit(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] / Math.sqrt(s));
        }
        return out;
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
        }
        return dot; // both unit length
    }

    private static void assertSameEmbedding(String library, String sentence, float[] theirs) {
        float[] ours = graft(merged, sentence);
        assertThat(theirs).as(library + ": " + sentence).hasSize(384);
        assertThat(unit(theirs)).as(library + ": " + sentence)
                .containsExactly(ours, org.assertj.core.data.Offset.offset(1e-4f));
        assertThat(cosine(ours, graft(BGE, sentence))).as("the merged model is not bge").isLessThan(0.999);
    }

    @Test
    void langChain4jEmbedsWithTheMergedModel() {
        OnnxEmbeddingModel model = new OnnxEmbeddingModel(merged, merged.resolveSibling("tokenizer.json"),
                PoolingMode.CLS);
        for (String s : SENTENCES) {
            assertSameEmbedding("LangChain4j", s, model.embed(s).content().vector());
        }
    }

    @Test
    void djlEmbedsWithTheMergedModel() throws Exception {
        Criteria<String, float[]> criteria = Criteria.builder()
                .setTypes(String.class, float[].class)
                .optModelPath(merged.getParent())
                .optModelName("model")
                .optEngine("OnnxRuntime")
                .optTranslatorFactory(new TextEmbeddingTranslatorFactory())
                .optArgument("pooling", "cls")
                .optArgument("normalize", "true")
                .optArgument("includeTokenTypes", "true")
                .build();
        try (ZooModel<String, float[]> model = criteria.loadModel();
             Predictor<String, float[]> predictor = model.newPredictor()) {
            for (String s : SENTENCES) {
                assertSameEmbedding("DJL", s, predictor.predict(s));
            }
        }
    }
}
