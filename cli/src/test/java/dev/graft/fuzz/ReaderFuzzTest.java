package dev.graft.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.graft.adapters.Checkpoint;
import dev.graft.adapters.OnnxAdapterFile;
import dev.graft.adapters.PeftConfig;
import dev.graft.adapters.Safetensors;
import dev.graft.data.NpyArray;
import dev.graft.data.TextFiles;
import dev.graft.eval.TaskData;
import dev.graft.eval.TaskFile;
import dev.graft.index.GraphIndex;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.recipe.Recipes;
import dev.graft.search.CoefficientSearch;

/**
 * Coverage-guided fuzz targets (Jazzer), one per reader of a file a user may get from a stranger: ONNX models (inline
 * and with external data), numpy arrays, safetensors, PEFT adapter configs, ONNX Runtime adapter files, sharded
 * checkpoints, recipes, task files and their text data, search checkpoints, text and tokenizers. Each reads its
 * input as far as a command would (an ONNX model: every weight's values and the graph index) under {@link
 * HostileFiles}' rules: return or throw a Graft exception naming the file, in bounded time and memory. In a normal
 * build each target replays its committed inputs ({@code
 * src/test/resources/dev/graft/fuzz/ReaderFuzzTestInputs/<target>/}: seeds from real files and every crash found);
 * {@code bench/fuzz.sh} fuzzes them ({@code JAZZER_FUZZ=1}).
 */
class ReaderFuzzTest {
    @FuzzTest
    void onnxModel(byte[] data) {
        HostileFiles.check(data, "model.onnx", ReaderFuzzTest::readModel);
    }

    /** Opens a model as {@code graft inspect} would: the graph index and every floating-point weight's values. */
    private static void readModel(java.nio.file.Path file) {
        try (OnnxModel m = OnnxModel.open(file)) {
            GraphIndex.of(m);
            for (Weight w : m.weights()) {
                if (w.type().isFloatingPoint()) {
                    w.toFloats();
                }
            }
        }
    }

    /**
     * A model with external data: the input is {@linkplain #cut cut} into the model file and {@code model.onnx.data};
     * read as {@link #onnxModel} reads.
     */
    @FuzzTest
    void externalData(byte[] data) {
        byte[][] parts = cut(data);
        HostileFiles.check(data, java.util.Map.of("model.onnx", parts[0], "model.onnx.data", parts[1]), "model.onnx",
                ReaderFuzzTest::readModel);
    }

    /**
     * A sharded Hugging Face checkpoint: the input is {@linkplain #cut cut} into {@code model.safetensors.index.json}
     * and one shard beside it; every parameter the index lists is read.
     */
    @FuzzTest
    void checkpointIndex(byte[] data) {
        byte[][] parts = cut(data);
        HostileFiles.check(data, java.util.Map.of("model.safetensors.index.json", parts[0],
                "model-00002-of-00002.safetensors", parts[1]), "model.safetensors.index.json", file -> {
                    try (Checkpoint c = Checkpoint.open(file)) {
                        for (String name : c.names()) {
                            c.floats(name);
                        }
                    }
                });
    }

    /**
     * Two files from one input: its first four bytes (little-endian) are the first file's length, the first file
     * follows and the rest is the second.
     */
    private static byte[][] cut(byte[] data) {
        int n = data.length < 4 ? 0 : (int) Math.min(data.length - 4L,
                java.nio.ByteBuffer.wrap(data, 0, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL);
        int from = Math.min(4, data.length);
        return new byte[][] {java.util.Arrays.copyOfRange(data, from, from + n),
                java.util.Arrays.copyOfRange(data, from + n, data.length)};
    }

    /** A Hugging Face {@code tokenizer.json}, used to tokenise a sentence and a pair as text calibration does. */
    @FuzzTest
    void tokenizer(byte[] data) {
        HostileFiles.check(data, "tokenizer.json", file -> dev.graft.data.Calibration.texts("fuzz",
                java.util.List.of("Graft merges models.", "a pair\tof texts"), file, 32));
    }

    @FuzzTest
    void npy(byte[] data) {
        HostileFiles.check(data, "x.npy", NpyArray::read);
    }

    @FuzzTest
    void safetensors(byte[] data) {
        HostileFiles.check(data, "adapter_model.safetensors", file -> {
            try (Safetensors s = Safetensors.open(file)) {
                for (String name : s.entries().keySet()) {
                    s.floats(name);
                }
            }
        });
    }

    @FuzzTest
    void peftConfig(byte[] data) {
        HostileFiles.check(data, "adapter_config.json", PeftConfig::read);
    }

    @FuzzTest
    void onnxAdapter(byte[] data) {
        HostileFiles.check(data, "a.onnx_adapter", OnnxAdapterFile::read);
    }

    @FuzzTest
    void recipe(byte[] data) {
        HostileFiles.check(data, "recipe.yaml", Recipes::read);
    }

    @FuzzTest
    void taskFile(byte[] data) {
        HostileFiles.check(data, "tasks.yaml", TaskFile::read);
    }

    /**
     * A task's text data, read and tokenised as {@code graft eval --tasks} does: the input's first byte picks the
     * layout (labelled, pairs, plain) and whether the file is TSV or JSONL; the rest is the file. The tokenizer is
     * the committed WordPiece seed of {@link #tokenizer}.
     */
    @FuzzTest
    void taskData(byte[] data) throws java.io.IOException {
        int pick = data.length == 0 ? 0 : data[0] & 0xff;
        TaskData.Layout layout = TaskData.Layout.values()[pick % 3];
        String name = pick / 3 % 2 == 0 ? "data.tsv" : "data.jsonl";
        byte[] file = java.util.Arrays.copyOfRange(data, Math.min(1, data.length), data.length);
        byte[] tokenizer;
        try (java.io.InputStream in = ReaderFuzzTest.class.getResourceAsStream(
                "ReaderFuzzTestInputs/tokenizer/wordpiece.json")) {
            tokenizer = in.readAllBytes();
        }
        HostileFiles.check(data, java.util.Map.of(name, file, "tokenizer.json", tokenizer), name, f ->
                TaskData.text(f, layout, f.resolveSibling("tokenizer.json"), 64, java.util.List.of("a", "b")));
    }

    /** A search checkpoint ({@code search.json}), which {@code graft search} resumes from. */
    @FuzzTest
    void searchCheckpoint(byte[] data) {
        HostileFiles.check(data, "search.json", CoefficientSearch.Checkpoint::read);
    }

    @FuzzTest
    void text(byte[] data) {
        HostileFiles.check(data, "calibration.txt", TextFiles::read);
    }
}
