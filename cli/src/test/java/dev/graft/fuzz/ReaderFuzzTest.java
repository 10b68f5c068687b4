package dev.graft.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.graft.adapters.OnnxAdapterFile;
import dev.graft.adapters.PeftConfig;
import dev.graft.adapters.Safetensors;
import dev.graft.data.NpyArray;
import dev.graft.data.TextFiles;
import dev.graft.eval.TaskFile;
import dev.graft.index.GraphIndex;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.recipe.Recipes;

/**
 * Coverage-guided fuzz targets (Jazzer), one per reader of a file a user may get from a stranger: ONNX models (inline
 * and with external data), numpy arrays, safetensors, PEFT adapter configs, ONNX Runtime adapter files, recipes, task
 * files, text and tokenizers. Each reads its
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
     * A model with external data: the input's first four bytes (little-endian) are the model file's length, the model
     * file follows and the rest is {@code model.onnx.data}; read as {@link #onnxModel} reads.
     */
    @FuzzTest
    void externalData(byte[] data) {
        int n = data.length < 4 ? 0 : (int) Math.min(data.length - 4L,
                java.nio.ByteBuffer.wrap(data, 0, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL);
        int from = Math.min(4, data.length);
        HostileFiles.check(data, java.util.Map.of("model.onnx", java.util.Arrays.copyOfRange(data, from, from + n),
                "model.onnx.data", java.util.Arrays.copyOfRange(data, from + n, data.length)), "model.onnx",
                ReaderFuzzTest::readModel);
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

    @FuzzTest
    void text(byte[] data) {
        HostileFiles.check(data, "calibration.txt", TextFiles::read);
    }
}
