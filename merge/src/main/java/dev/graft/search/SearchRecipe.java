package dev.graft.search;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * A searched point as the recipe that merges it, for {@code graft merge}: a recipe tree written as JSON after a
 * {@code #} comment line, which YAML reads. A parameter that differs by tensor is a list of
 * {@code {filter: NAME, value}} entries, the filters being full tensor names, longest first (a filter matches the
 * tensors whose names contain it and the first match wins, so a name that is part of a longer one never takes the
 * longer one's value), then {@code {value: OTHERWISE}} for the rest.
 */
final class SearchRecipe {
    private SearchRecipe() {
    }

    /** An empty recipe tree. */
    static ObjectNode tree() {
        return JsonNodeFactory.instance.objectNode();
    }

    /** {@code values} by tensor name as a filter list, longest names first, then {@code otherwise} for the rest. */
    static ArrayNode perTensor(Map<String, Double> values, double otherwise) {
        ArrayNode list = JsonNodeFactory.instance.arrayNode();
        List<String> names = new ArrayList<>(values.keySet());
        names.sort(Comparator.comparingInt((String n) -> -n.length()).thenComparing(n -> n));
        for (String n : names) {
            list.addObject().put("filter", n).put("value", values.get(n));
        }
        list.addObject().put("value", otherwise);
        return list;
    }

    /** {@code p} relative to {@code folder}, or absolute when {@code folder} is null. */
    static String path(Path p, Path folder) {
        Path absolute = p.toAbsolutePath().normalize();
        return folder == null ? absolute.toString() : folder.toAbsolutePath().normalize().relativize(absolute).toString();
    }

    /** Writes {@code recipe} to {@code file} after the comment line {@code comment}. */
    static void write(ObjectNode recipe, String comment, Path file) {
        try {
            Files.writeString(file, "# " + comment + "\n" + new ObjectMapper().writerWithDefaultPrettyPrinter()
                    .writeValueAsString(recipe) + "\n");
        } catch (IOException e) {
            throw new GraftIoException(file, "written", e);
        }
    }
}
