package dev.graft.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.graft.data.Calibration;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;

class OutputSimilarityTest {
    /**
     * On real sentences: a model is identical to itself, and bge and e5 are as close as the cosine of their
     * outputs at the real (unpadded) tokens, worked out here from the same batches.
     */
    @Test
    void onRealSamplesItIsTheCosineOfAllOutputsTogether() {
        Path bge = RealModels.bgeSmall();
        Path e5 = RealModels.e5Small();
        Calibration text = Calibration.text(Path.of("../examples/recipes/text/sentences.txt"),
                bge.resolveSibling("bge-small-en-v1.5-tokenizer.json"), 24, 32);
        OutputSimilarity similarity = new OutputSimilarity(bge, text);
        assertThat(similarity.evaluate(bge)).isCloseTo(1.0, within(1e-9));
        double dot = 0;
        double nb = 0;
        double ne = 0;
        try (ModelRunner rb = new ModelRunner(bge, 1); ModelRunner re = new ModelRunner(e5, 1)) {
            for (var batch : text.batches()) {
                float[] b = rb.run(batch, Set.of("last_hidden_state")).get("last_hidden_state").values();
                float[] e = re.run(batch, Set.of("last_hidden_state")).get("last_hidden_state").values();
                long[] mask = batch.get("attention_mask").longs(); // padded positions do not count
                int width = b.length / mask.length;
                for (int i = 0; i < b.length; i++) {
                    if (mask[i / width] == 0) {
                        continue;
                    }
                    dot += (double) b[i] * e[i];
                    nb += (double) b[i] * b[i];
                    ne += (double) e[i] * e[i];
                }
            }
        }
        double expected = dot / Math.sqrt(nb * ne);
        assertThat(expected).isLessThan(0.99);
        assertThat(similarity.evaluate(e5)).isCloseTo(expected, within(1e-6));
    }
}
