package dev.graft.examples.clients;

import dev.graft.Graft;
import dev.graft.merge.Linear;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Merges two embedding models of one architecture with Graft (a model soup: the weights averaged, Wortsman et al.
 * 2022) into a folder that the libraries serving embeddings load as they load any exported model: {@code model.onnx}
 * beside the {@code tokenizer.json} both inputs share.
 */
public final class MergedEmbeddingModel {
    private MergedEmbeddingModel() {
    }

    /**
     * Writes {@code folder/model.onnx} (the average of {@code a} and {@code b}) and {@code folder/tokenizer.json} (a
     * copy of {@code tokenizer}); returns the model file.
     */
    public static Path write(Path a, Path b, Path tokenizer, Path folder) {
        try {
            Files.createDirectories(folder);
            Path model = folder.resolve("model.onnx");
            Graft.merge().model(a, 0.5).model(b, 0.5).method(new Linear()).writeTo(model);
            Files.copy(tokenizer, folder.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
            return model;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Merges the two models named on the command line into the folder named third, with the fourth's tokenizer. */
    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: MergedEmbeddingModel A.onnx B.onnx TOKENIZER.json OUT_FOLDER");
            System.exit(2);
        }
        System.out.println(write(Path.of(args[0]), Path.of(args[1]), Path.of(args[2]), Path.of(args[3])));
    }
}
