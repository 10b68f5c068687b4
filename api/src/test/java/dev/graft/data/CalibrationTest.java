package dev.graft.data;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.graft.exec.ProgressListener;
import dev.graft.testing.RealModels;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrationTest {
    @TempDir
    Path dir;

    /**
     * A line with a tab is a pair of texts: one sequence {@code [CLS] query [SEP] passage [SEP]} (the query's own
     * encoding, then the passage's without its {@code [CLS]}), with segment ids 1 for the passage; a line without
     * one is a single text with segment ids 0. bge-small runs the padded batch with every real token.
     */
    @Test
    void aLineWithATabIsAPairOfTextsWithSegmentIdsOneForTheSecond() throws IOException {
        Path bge = RealModels.bgeSmall();
        Path tokenizer = bge.resolveSibling("bge-small-en-v1.5-tokenizer.json");
        String query = "What is the capital of France?";
        String passage = "Paris is the capital and the largest city of France.";
        Path text = Files.writeString(dir.resolve("pairs.txt"), query + "\t" + passage + "\n" + query + "\n");
        long[] q;
        long[] p;
        try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizer).build()) {
            q = t.encode(query).getIds();
            p = t.encode(passage).getIds();
        }
        long[] pairIds = LongStream.concat(Arrays.stream(q), Arrays.stream(p).skip(1)).toArray();
        long[] pairTypes = LongStream.concat(LongStream.generate(() -> 0).limit(q.length),
                LongStream.generate(() -> 1).limit(p.length - 1)).toArray();

        Calibration data = Calibration.text(text, tokenizer, 10, 64);
        assertThat(data.samples()).isEqualTo(2);
        assertThat(data.batches()).hasSize(1);
        Map<String, ModelRunner.Input> batch = data.batches().get(0);
        int length = (int) batch.get("input_ids").shape()[1];
        assertThat(length).isEqualTo(pairIds.length);
        // ordered by length: the single query first (padded), then the pair
        assertThat(Arrays.copyOfRange(batch.get("input_ids").longs(), 0, q.length)).containsExactly(q);
        assertThat(Arrays.copyOfRange(batch.get("token_type_ids").longs(), 0, length)).containsOnly(0L);
        assertThat(Arrays.copyOfRange(batch.get("input_ids").longs(), length, 2 * length)).containsExactly(pairIds);
        assertThat(Arrays.copyOfRange(batch.get("token_type_ids").longs(), length, 2 * length))
                .containsExactly(pairTypes);
        long real = Arrays.stream(batch.get("attention_mask").longs()).sum();
        assertThat(real).isEqualTo(q.length + pairIds.length);

        AtomicInteger rows = new AtomicInteger();
        try (Activations runs = Activations.of(bge, Set.of("last_hidden_state"))) {
            runs.run(data, b -> rows.addAndGet((int) b.output(0, "last_hidden_state").shape()[1]),
                    ProgressListener.NONE, "testing");
        }
        assertThat(rows.get()).isEqualTo(real);
    }
}
