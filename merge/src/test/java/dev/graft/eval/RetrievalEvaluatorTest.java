package dev.graft.eval;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.testing.RealModels;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class RetrievalEvaluatorTest {
    /**
     * On 60 docstring pairs, a real embedding model finds the right document far more often than chance (random
     * ranking gives an MRR of H(60)/60 ≈ 0.078); so does another model that shares the vocabulary (all-MiniLM,
     * fed bge's tokens).
     */
    @Test
    void embeddingModelsRetrieveTheirOwnDocumentsFarAboveChance() {
        Path bge = RealModels.bgeSmall();
        RetrievalEvaluator e = RetrievalEvaluator.fromTsv(Path.of("../examples/recipes/text/retrieval.tsv"),
                bge.resolveSibling("bge-small-en-v1.5-tokenizer.json"), 60, 128);
        double chance = 0;
        for (int k = 1; k <= 60; k++) {
            chance += 1.0 / k;
        }
        chance /= 60;
        assertThat(e.evaluate(bge)).isGreaterThan(5 * chance).isLessThanOrEqualTo(1.0);
        assertThat(e.evaluate(RealModels.miniLm())).isGreaterThan(2 * chance);
    }

    /** The averaged-output ensemble of a model with itself is the model; of two models, its own thing. */
    @Test
    void anEnsembleAveragesTheModelsOutputs() {
        Path bge = RealModels.bgeSmall();
        RetrievalEvaluator e = RetrievalEvaluator.fromTsv(Path.of("../examples/recipes/text/retrieval.tsv"),
                bge.resolveSibling("bge-small-en-v1.5-tokenizer.json"), 60, 128);
        assertThat(e.evaluateAveraged(List.of(bge, bge))).isEqualTo(e.evaluate(bge));
        double both = e.evaluateAveraged(List.of(bge, RealModels.e5Small()));
        assertThat(both).isNotEqualTo(e.evaluate(bge)).isGreaterThan(0.3);
    }
}
