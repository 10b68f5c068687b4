package dev.graft.data;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.graft.GraftException;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Calibration data: inputs on which models are run to observe their activations (activation matching, least
 * squares). Either NumPy arrays ({@code N × ...}, float32 for the model's first input, split into batches), or
 * text, one sample per line, tokenised with a Hugging Face {@code tokenizer.json}, batched only with samples of
 * the same length (so there is no padding to mask; up to 16 a batch) and fed as {@code input_ids},
 * {@code attention_mask} (ones) and {@code token_type_ids} (zeros); a model gets those of them it has.
 */
public final class Calibration {
    private final List<Map<String, ModelRunner.Input>> batches;
    private final String source;
    private final int samples;

    private Calibration(List<Map<String, ModelRunner.Input>> batches, String source, int samples) {
        this.batches = List.copyOf(batches);
        this.source = source;
        this.samples = samples;
    }

    /**
     * Batches already in memory (from a JVM application's own data): each a map from input name to tensor, samples
     * along the first dimension.
     */
    public static Calibration of(String source, List<Map<String, ModelRunner.Input>> batches) {
        if (batches.isEmpty()) {
            throw new IllegalArgumentException("calibration '" + source + "' has no batches");
        }
        int samples = 0;
        for (Map<String, ModelRunner.Input> b : batches) {
            samples += (int) b.values().iterator().next().shape()[0];
        }
        return new Calibration(batches, source, samples);
    }

    /** The samples of an {@code .npy} array for input {@code input}, {@code batch} at a time. */
    public static Calibration npy(Path file, String input, int batch) {
        NpyArray a = NpyArray.read(file);
        if (a.floats() == null || a.shape().length < 1) {
            throw new GraftException(file, null, "calibration arrays must be float, with samples along the first "
                    + "dimension; got shape " + Arrays.toString(a.shape()));
        }
        int n = (int) a.shape()[0];
        int per = (int) (a.count() / Math.max(1, n));
        List<Map<String, ModelRunner.Input>> out = new ArrayList<>();
        for (int from = 0; from < n; from += batch) {
            int count = Math.min(batch, n - from);
            long[] shape = a.shape().clone();
            shape[0] = count;
            float[] values = Arrays.copyOfRange(a.floats(), from * per, (from + count) * per);
            out.add(Map.of(input, ModelRunner.Input.of(values, shape)));
        }
        return new Calibration(out, file.toString(), n);
    }

    /**
     * The first {@code maxSamples} non-empty lines of {@code text}, each cut to {@code maxTokens} tokens by
     * {@code tokenizer}, as {@code input_ids}, {@code attention_mask} and {@code token_type_ids} (a model is fed
     * those of them it has).
     */
    public static Calibration text(Path text, Path tokenizer, int maxSamples, int maxTokens) {
        List<String> lines = TextFiles.lines(text).stream().map(String::strip).filter(l -> !l.isEmpty())
                .limit(maxSamples).toList();
        if (lines.isEmpty()) {
            throw new GraftException(text, null, "has no non-empty lines to calibrate on");
        }
        Map<Integer, List<long[]>> byLength = new java.util.TreeMap<>();
        try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizer)
                .optMaxLength(maxTokens).optTruncation(true).optPadding(false).build()) {
            for (String line : lines) {
                long[] ids = t.encode(line).getIds();
                byLength.computeIfAbsent(ids.length, k -> new ArrayList<>()).add(ids);
            }
        } catch (IOException | RuntimeException e) {
            throw new GraftException(tokenizer, null, "cannot be used as a Hugging Face tokenizer.json: "
                    + e.getMessage(), e);
        }
        List<Map<String, ModelRunner.Input>> out = new ArrayList<>();
        for (Map.Entry<Integer, List<long[]>> e : byLength.entrySet()) {
            int length = e.getKey();
            List<long[]> same = e.getValue();
            for (int from = 0; from < same.size(); from += 16) {
                int count = Math.min(16, same.size() - from);
                long[] ids = new long[count * length];
                for (int k = 0; k < count; k++) {
                    System.arraycopy(same.get(from + k), 0, ids, k * length, length);
                }
                long[] shape = {count, length};
                Map<String, ModelRunner.Input> batch = new LinkedHashMap<>();
                batch.put("input_ids", ModelRunner.Input.ofLongs(ids, shape));
                long[] ones = new long[ids.length];
                Arrays.fill(ones, 1);
                batch.put("attention_mask", ModelRunner.Input.ofLongs(ones, shape));
                batch.put("token_type_ids", ModelRunner.Input.ofLongs(new long[ids.length], shape));
                out.add(batch);
            }
        }
        return new Calibration(out, text.toString(), lines.size());
    }

    /** The batches, each a map from input name to tensor. */
    public List<Map<String, ModelRunner.Input>> batches() {
        return batches;
    }

    /** How many samples (rows, or lines of text). */
    public int samples() {
        return samples;
    }

    /** Where the data came from, for reports. */
    public String source() {
        return source;
    }
}
