package dev.graft.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.graft.GraftException;
import dev.graft.InvalidSettingException;
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
 * text, one sample per line, tokenised with a Hugging Face {@code tokenizer.json}, batched by length with padding
 * (see {@link #text}) and fed as {@code input_ids}, {@code attention_mask} (zeros on padding) and
 * {@code token_type_ids} (zeros, and ones for the second text of a pair: a line with a tab); a model gets those of
 * them it has.
 */
public final class Calibration {
    private final List<Map<String, ModelRunner.Input>> batches;
    private final String source;
    private final int samples;
    private final int[] order;

    private Calibration(List<Map<String, ModelRunner.Input>> batches, String source, int samples, int[] order) {
        this.batches = List.copyOf(batches);
        this.source = source;
        this.samples = samples;
        this.order = order;
    }

    /**
     * Batches already in memory (from a JVM application's own data): each a map from input name to tensor, samples
     * along the first dimension.
     *
     * @throws InvalidSettingException if {@code batches} is empty
     */
    public static Calibration of(String source, List<Map<String, ModelRunner.Input>> batches) {
        if (batches.isEmpty()) {
            throw new InvalidSettingException("calibration '" + source + "' has no batches");
        }
        int samples = 0;
        for (Map<String, ModelRunner.Input> b : batches) {
            samples += (int) b.values().iterator().next().shape()[0];
        }
        return new Calibration(batches, source, samples, null);
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
        return new Calibration(out, file.toString(), n, null);
    }

    /** Text samples per batch at most. */
    public static final int TEXT_BATCH = 16;
    /**
     * Padded tokens per batch at most (a longer sample goes alone): every exposed value of a batch is held at
     * once, so batches of long samples are kept small.
     */
    public static final int TEXT_BATCH_TOKENS = 256;

    /**
     * The first {@code maxSamples} non-empty lines of {@code text}, each cut to {@code maxTokens} tokens by
     * {@code tokenizer}, as {@code input_ids}, {@code attention_mask} and {@code token_type_ids} (a model is fed
     * those of them it has). A line with a tab is a pair of texts (a query and a passage, for a cross-encoder),
     * encoded as one sequence by the tokenizer's pair template: {@code token_type_ids} are 1 for the second text. Samples are ordered by token count (stable, so equal lengths keep the file's order)
     * and batched {@value #TEXT_BATCH} at a time (fewer when the batch would pass {@value #TEXT_BATCH_TOKENS} padded
     * tokens), each batch padded to its longest sample: padding has id 0 and
     * mask 0, and {@link Activations} leaves it out of every statistic.
     */
    public static Calibration text(Path text, Path tokenizer, int maxSamples, int maxTokens) {
        List<String> lines = TextFiles.lines(text).stream().map(String::strip).filter(l -> !l.isEmpty())
                .limit(maxSamples).toList();
        if (lines.isEmpty()) {
            throw new GraftException(text, null, "has no non-empty lines to calibrate on");
        }
        return texts(text.toString(), lines, tokenizer, maxTokens);
    }

    /**
     * {@code texts} (already read; a tab separates a pair) tokenised and batched as {@link #text} does; {@link #order}
     * maps each sample back to its index in {@code texts}.
     *
     * @throws GraftException if the tokenizer cannot be read
     */
    public static Calibration texts(String source, List<String> texts, Path tokenizer, int maxTokens) {
        List<Tokens> samples = new ArrayList<>();
        TokenizerFile.check(tokenizer);
        try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizer)
                .optMaxLength(maxTokens).optTruncation(true).optPadding(false).build()) {
            for (int i = 0; i < texts.size(); i++) {
                String line = texts.get(i);
                int tab = line.indexOf('\t');
                Encoding e = tab < 0 ? t.encode(line)
                        : t.encode(line.substring(0, tab).strip(), line.substring(tab + 1).strip());
                samples.add(new Tokens(i, e.getIds(), e.getTypeIds()));
            }
        } catch (IOException | RuntimeException e) {
            throw new GraftException(tokenizer, null, "cannot be used as a Hugging Face tokenizer.json: "
                    + e.getMessage(), e);
        }
        samples.sort(java.util.Comparator.comparingInt(s -> s.ids().length));
        List<Map<String, ModelRunner.Input>> out = new ArrayList<>();
        for (int from = 0; from < samples.size(); ) {
            int to = from + 1; // sorted: the last sample of a batch is its longest
            while (to < samples.size() && to - from < TEXT_BATCH
                    && (long) (to - from + 1) * samples.get(to).ids().length <= TEXT_BATCH_TOKENS) {
                to++;
            }
            out.add(padded(samples.subList(from, to)));
            from = to;
        }
        return new Calibration(out, source, texts.size(), samples.stream().mapToInt(Tokens::index).toArray());
    }

    /** One sample's token ids and segment ids (0 for a single text and a pair's first, 1 for its second). */
    private record Tokens(int index, long[] ids, long[] types) {
    }

    /** Several samples as one batch padded to the longest, with its attention mask. */
    private static Map<String, ModelRunner.Input> padded(List<Tokens> samples) {
        int length = samples.stream().mapToInt(s -> s.ids().length).max().orElse(0);
        int count = samples.size();
        long[] ids = new long[count * length];
        long[] types = new long[count * length];
        long[] mask = new long[count * length];
        for (int k = 0; k < count; k++) {
            Tokens s = samples.get(k);
            System.arraycopy(s.ids(), 0, ids, k * length, s.ids().length);
            System.arraycopy(s.types(), 0, types, k * length, s.types().length);
            Arrays.fill(mask, k * length, k * length + s.ids().length, 1);
        }
        long[] shape = {count, length};
        Map<String, ModelRunner.Input> batch = new LinkedHashMap<>();
        batch.put("input_ids", ModelRunner.Input.ofLongs(ids, shape));
        batch.put("attention_mask", ModelRunner.Input.ofLongs(mask, shape));
        batch.put("token_type_ids", ModelRunner.Input.ofLongs(types, shape));
        return batch;
    }

    /** The batches, each a map from input name to tensor. */
    public List<Map<String, ModelRunner.Input>> batches() {
        return batches;
    }

    /**
     * The index, in the order the samples were given, of the sample at {@code position} of the batches (counted
     * across batches): text is reordered by length, arrays and batches given in memory are not.
     */
    public int sampleIndex(int position) {
        return order == null ? position : order[position];
    }

    /**
     * The first {@code n} samples only (in the order they were given), in their batches as they are (rows of other
     * samples dropped, padding kept): a budget of samples, the same ones on every call.
     */
    public Calibration first(int n) {
        return n >= samples ? this : select(java.util.stream.IntStream.range(0, Math.max(0, n)).toArray());
    }

    /**
     * Samples {@code indices} only (indices in the order the samples were given, ascending, each below
     * {@link #samples()}), renumbered 0, 1, ... in that order, in their batches as they are (rows of other samples
     * dropped, padding kept).
     *
     * @throws IllegalArgumentException if the indices are not ascending or out of range
     */
    public Calibration select(int[] indices) {
        int[] rank = new int[samples];
        java.util.Arrays.fill(rank, -1);
        for (int k = 0; k < indices.length; k++) {
            if (indices[k] < 0 || indices[k] >= samples || (k > 0 && indices[k] <= indices[k - 1])) {
                throw new IllegalArgumentException("sample indices must ascend within [0, " + samples + "), got "
                        + indices[k] + " at " + k);
            }
            rank[indices[k]] = k;
        }
        List<Map<String, ModelRunner.Input>> kept = new java.util.ArrayList<>();
        int[] keptOrder = new int[indices.length];
        int position = 0;
        int written = 0;
        for (Map<String, ModelRunner.Input> batch : batches) {
            int rows = (int) batch.values().iterator().next().shape()[0];
            List<Integer> keep = new java.util.ArrayList<>();
            for (int r = 0; r < rows; r++) {
                int index = sampleIndex(position + r);
                if (rank[index] >= 0) {
                    keep.add(r);
                    keptOrder[written++] = rank[index];
                }
            }
            position += rows;
            if (!keep.isEmpty()) {
                Map<String, ModelRunner.Input> b = new java.util.LinkedHashMap<>();
                batch.forEach((name, in) -> b.put(name, rows(in, keep)));
                kept.add(b);
            }
        }
        return new Calibration(kept, source, indices.length, keptOrder);
    }

    /** Rows {@code keep} of {@code in} (samples along the first dimension). */
    private static ModelRunner.Input rows(ModelRunner.Input in, List<Integer> keep) {
        long[] shape = in.shape().clone();
        int width = (int) (Arrays.stream(shape).skip(1).reduce(1, (a, b) -> a * b));
        shape[0] = keep.size();
        if (in.floats() != null) {
            float[] v = new float[keep.size() * width];
            for (int k = 0; k < keep.size(); k++) {
                System.arraycopy(in.floats(), keep.get(k) * width, v, k * width, width);
            }
            return ModelRunner.Input.of(in.type(), v, shape);
        }
        long[] v = new long[keep.size() * width];
        for (int k = 0; k < keep.size(); k++) {
            System.arraycopy(in.longs(), keep.get(k) * width, v, k * width, width);
        }
        return ModelRunner.Input.ofLongs(in.type(), v, shape);
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
