package dev.graft.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The files that come with a model in its folder and that a runtime reads beside it: ONNX Runtime GenAI's
 * {@code genai_config.json}, Hugging Face's {@code config.json} and {@code generation_config.json}, and tokenizer
 * files. A model written into another folder gets copies of them, so that it runs as its source did; a file of the
 * same name already there is left alone, and {@code genai_config.json}'s {@code model.decoder.filename} is set to
 * the written model's file name. A companion that is a link leading out of the model's folder ({@link InsideFolder})
 * is not copied (a model folder from a stranger could link {@code tokenizer.json} to any file of the user's, which
 * would then be published with the merge); a warning says so.
 */
public final class CompanionFiles {
    private static final System.Logger LOG = System.getLogger("dev.graft");
    /** The file names copied, when the source folder has them. */
    public static final List<String> NAMES = List.of("genai_config.json", "config.json", "generation_config.json",
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
            "tokenizer.model", "vocab.txt", "vocab.json", "merges.txt", "chat_template.jinja");

    private CompanionFiles() {
    }

    /**
     * Copies {@code source}'s companions beside {@code target} (nothing if they share a folder).
     *
     * @return the files written
     * @throws GraftIoException naming the file that could not be copied
     */
    public static List<Path> copy(Path source, Path target) {
        Path from = source.toAbsolutePath().getParent();
        Path to = target.toAbsolutePath().getParent();
        List<Path> copied = new ArrayList<>();
        if (from == null || to == null || from.equals(to)) {
            return copied;
        }
        for (String name : NAMES) {
            Path src = from.resolve(name);
            Path dst = to.resolve(name);
            if (!Files.isRegularFile(src) || Files.exists(dst)) {
                continue;
            }
            try {
                InsideFolder.resolve(from, name, src);
            } catch (dev.graft.UnsafePathException e) { // copying it would publish a file from elsewhere
                LOG.log(System.Logger.Level.WARNING, "not copied beside " + target.getFileName() + ": "
                        + e.getMessage());
                continue;
            }
            try {
                if (name.equals("genai_config.json")) {
                    Files.writeString(dst, genaiConfig(Files.readString(src), target.getFileName().toString()));
                } else {
                    Files.copy(src, dst);
                }
            } catch (IOException e) {
                throw new GraftIoException(dst, "copied from " + src, e);
            }
            copied.add(dst);
        }
        return copied;
    }

    /** {@code json} with {@code model.decoder.filename} set to {@code file} (unchanged if it has none). */
    private static String genaiConfig(String json, String file) throws IOException {
        ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        JsonNode root = mapper.readTree(json);
        JsonNode decoder = root.path("model").path("decoder");
        if (!(decoder instanceof ObjectNode d) || !d.has("filename") || d.get("filename").asText().equals(file)) {
            return json;
        }
        d.put("filename", file);
        return mapper.writeValueAsString(root) + "\n";
    }
}
