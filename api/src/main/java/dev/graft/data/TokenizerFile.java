package dev.graft.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A Hugging Face {@code tokenizer.json} checked before the native tokenizers library reads it: strict JSON, an object
 * whose pipeline parts ({@code model}, and {@code normalizer}, {@code pre_tokenizer}, {@code post_processor},
 * {@code decoder} where present) are objects naming their {@code type} (or null, all but the model), and the special
 * tokens a template post-processor uses are defined. The library (tokenizers 0.21 through DJL) aborts the whole
 * process, not just the call, on such files (fuzzing found a {@code decoder} that is not JSON and a template using an
 * undefined special token: each made it panic across JNI), so they are refused here with a {@link GraftException}
 * naming the file. Other malformed files may still reach a panic in the library: this is a guard, not a parser.
 */
final class TokenizerFile {
    private static final String[] PARTS = {"normalizer", "pre_tokenizer", "post_processor", "decoder"};

    private TokenizerFile() {
    }

    /**
     * Checks {@code file}.
     *
     * @throws GraftException naming the file and what is wrong with it
     */
    static void check(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            String reason = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage()
                    : e.getMessage();
            throw new GraftException(file, null, "is not a Hugging Face tokenizer.json (not JSON: " + reason + ")", e);
        }
        if (root == null || !root.isObject()) {
            throw new GraftException(file, null, "is not a Hugging Face tokenizer.json (expected a JSON object)");
        }
        part(file, root, "model", false);
        for (String name : PARTS) {
            part(file, root, name, true);
        }
        templates(file, root.path("post_processor"));
    }

    /**
     * A {@code TemplateProcessing} post-processor (also inside a {@code Sequence}) must define each special token its
     * templates use (the library panics on one it lacks).
     */
    private static void templates(Path file, JsonNode processor) {
        for (JsonNode p : processor.path("processors")) {
            templates(file, p);
        }
        if (!processor.path("type").asText().equals("TemplateProcessing")) {
            return;
        }
        JsonNode special = processor.path("special_tokens");
        for (String template : new String[] {"single", "pair"}) {
            for (JsonNode piece : processor.path(template)) {
                JsonNode token = piece.get("SpecialToken");
                if (token != null && (!token.path("id").isTextual() || !special.has(token.path("id").asText()))) {
                    throw new GraftException(file, null, "is not a usable Hugging Face tokenizer.json (its '" + template
                            + "' template uses special token " + token.path("id") + ", which 'special_tokens' lacks)");
                }
            }
        }
    }

    private static void part(Path file, JsonNode root, String name, boolean optional) {
        JsonNode p = root.get(name);
        if (p == null || p.isNull()) {
            if (!optional) {
                throw new GraftException(file, null, "is not a Hugging Face tokenizer.json (no '" + name + "')");
            }
            return;
        }
        if (!p.isObject() || !name.equals("model") && !p.path("type").isTextual()) {
            throw new GraftException(file, null, "is not a Hugging Face tokenizer.json ('" + name
                    + "' must be an object with a 'type', or null)");
        }
    }
}
