package dev.graft.data;

import dev.graft.GraftException;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where calibration data comes from, as the CLI's {@code --calibration/--tokenizer/--input/--samples} and a
 * recipe's {@code calibration/tokenizer/input/samples} keys say it: a {@code .npy} array (samples first) fed to
 * one model input, or a text file of one sample per line with a Hugging Face {@code tokenizer.json}. The one
 * description shared by the CLI, recipes and the API; {@link #load} reads it.
 *
 * @param data      the {@code .npy} array or the text file
 * @param tokenizer the tokenizer, for text (null for arrays)
 * @param input     the model input an array feeds (null: the model's first input)
 * @param samples   lines of text used at most
 */
public record CalibrationSpec(Path data, Path tokenizer, String input, int samples) {
    /** Tokens per text sample at most. */
    public static final int MAX_TOKENS = 128;
    /** Rows per batch of a {@code .npy} array. */
    public static final int ARRAY_BATCH = 64;

    public CalibrationSpec {
        Objects.requireNonNull(data, "data");
        if (samples < 1) {
            throw new GraftException(data, null, "samples must be at least 1, got " + samples);
        }
    }

    /** Whether the data is a {@code .npy} array (else text). */
    public boolean isArray() {
        return data.getFileName().toString().endsWith(".npy");
    }

    /**
     * Reads the data for {@code model} (whose first input an array feeds unless {@link #input} names one).
     *
     * @throws GraftException if a text file comes without a tokenizer or an array with one, or the data cannot
     *                        be read
     */
    public Calibration load(Path model) {
        if (isArray()) {
            if (tokenizer != null) {
                throw new GraftException(data, null, "is a .npy array; a tokenizer goes with text calibration only");
            }
            String name = input;
            if (name == null) {
                try (ModelRunner runner = new ModelRunner(model, 1)) {
                    name = runner.inputNames().get(0);
                }
            }
            return Calibration.npy(data, name, ARRAY_BATCH);
        }
        if (tokenizer == null) {
            throw new GraftException(data, null, "is text calibration and needs a tokenizer (tokenizer.json); "
                    + "arrays must end in .npy");
        }
        return Calibration.text(data, tokenizer, samples, MAX_TOKENS);
    }
}
