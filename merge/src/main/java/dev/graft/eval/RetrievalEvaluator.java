package dev.graft.eval;

import dev.graft.data.TextFiles;
import dev.graft.exec.Threads;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.graft.GraftException;
import dev.graft.verify.ModelRunner;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Mean reciprocal rank of a text-embedding model on a retrieval set: pairs of query and document, each query's
 * answer being its own document among all of them. Texts are tokenised with a Hugging Face
 * {@code tokenizer.json}, embedded by mean pooling the model's first output ({@code last_hidden_state},
 * {@code N × tokens × dim}) and normalised; documents are ranked by cosine similarity. The model is fed
 * {@code input_ids}, {@code attention_mask} and {@code token_type_ids} (those it has), texts of equal token
 * length batched together so that nothing needs masking.
 */
public final class RetrievalEvaluator implements Evaluator {
    private final List<long[]> queries;
    private final List<long[]> documents;

    private RetrievalEvaluator(List<long[]> queries, List<long[]> documents) {
        this.queries = queries;
        this.documents = documents;
    }

    /** Pairs from a file of lines {@code query<TAB>document}, at most {@code limit} of them. */
    public static RetrievalEvaluator fromTsv(Path pairs, Path tokenizer, int limit, int maxTokens) {
        List<String[]> rows = new ArrayList<>();
        for (String line : TextFiles.lines(pairs)) {
            String[] parts = line.split("\t", 2);
            if (parts.length == 2 && rows.size() < limit) {
                rows.add(parts);
            }
        }
        if (rows.size() < 2) {
            throw new GraftException(pairs, null, "needs at least 2 lines of query<TAB>document");
        }
        List<long[]> q = new ArrayList<>();
        List<long[]> d = new ArrayList<>();
        try (HuggingFaceTokenizer t = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizer)
                .optMaxLength(maxTokens).optTruncation(true).optPadding(false).build()) {
            for (String[] r : rows) {
                q.add(t.encode(r[0]).getIds());
                d.add(t.encode(r[1]).getIds());
            }
        } catch (IOException | RuntimeException e) {
            throw new GraftException(tokenizer, null, "cannot be used as a Hugging Face tokenizer.json: "
                    + e.getMessage(), e);
        }
        return new RetrievalEvaluator(q, d);
    }

    @Override
    public String name() {
        return "retrieval MRR";
    }

    @Override
    public boolean higherIsBetter() {
        return true;
    }

    @Override
    public double evaluate(Path model) {
        return evaluateAveraged(List.of(model));
    }

    /**
     * The MRR of the averaged-output ensemble of {@code models}: their {@code last_hidden_state}s averaged, then
     * pooled (mean pooling is linear, so this averages the models' pooled embeddings before normalising).
     */
    public double evaluateAveraged(List<Path> models) {
        float[][] qe = null;
        float[][] de = null;
        for (Path model : models) {
            try (ModelRunner runner = new ModelRunner(model, Threads.modelRuns())) {
                qe = add(qe, pooled(runner, queries));
                de = add(de, pooled(runner, documents));
            }
        }
        normalise(qe);
        normalise(de);
        double total = 0;
        for (int i = 0; i < qe.length; i++) {
            double own = dot(qe[i], de[i]);
            int rank = 1;
            for (int j = 0; j < de.length; j++) {
                if (j != i && dot(qe[i], de[j]) > own) {
                    rank++;
                }
            }
            total += 1.0 / rank;
        }
        return total / qe.length;
    }

    private static float[][] add(float[][] sum, float[][] x) {
        if (sum == null) {
            return x;
        }
        for (int i = 0; i < sum.length; i++) {
            for (int c = 0; c < sum[i].length; c++) {
                sum[i][c] += x[i][c];
            }
        }
        return sum;
    }

    private static void normalise(float[][] vectors) {
        for (float[] v : vectors) {
            double norm = Math.sqrt(dot(v, v));
            for (int c = 0; c < v.length; c++) {
                v[c] /= (float) Math.max(norm, 1e-12);
            }
        }
    }

    /** Mean-pooled embeddings of {@code texts}, in order. */
    private static float[][] pooled(ModelRunner runner, List<long[]> texts) {
        Map<Integer, List<Integer>> byLength = new LinkedHashMap<>();
        for (int i = 0; i < texts.size(); i++) {
            byLength.computeIfAbsent(texts.get(i).length, k -> new ArrayList<>()).add(i);
        }
        float[][] out = new float[texts.size()][];
        for (Map.Entry<Integer, List<Integer>> e : byLength.entrySet()) {
            int length = e.getKey();
            List<Integer> ids = e.getValue();
            for (int from = 0; from < ids.size(); from += 32) {
                int count = Math.min(32, ids.size() - from);
                long[] tokens = new long[count * length];
                for (int k = 0; k < count; k++) {
                    System.arraycopy(texts.get(ids.get(from + k)), 0, tokens, k * length, length);
                }
                long[] shape = {count, length};
                long[] ones = new long[tokens.length];
                Arrays.fill(ones, 1);
                Map<String, ModelRunner.Input> in = new HashMap<>();
                in.put("input_ids", ModelRunner.Input.ofLongs(tokens, shape));
                in.put("attention_mask", ModelRunner.Input.ofLongs(ones, shape));
                in.put("token_type_ids", ModelRunner.Input.ofLongs(new long[tokens.length], shape));
                ModelRunner.Output hidden = runner.run(in, Set.of()).values().iterator().next();
                int dim = (int) hidden.shape()[2];
                for (int k = 0; k < count; k++) {
                    float[] v = new float[dim];
                    for (int tkn = 0; tkn < length; tkn++) {
                        for (int c = 0; c < dim; c++) {
                            v[c] += hidden.values()[(k * length + tkn) * dim + c] / length;
                        }
                    }
                    out[ids.get(from + k)] = v;
                }
            }
        }
        return out;
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
