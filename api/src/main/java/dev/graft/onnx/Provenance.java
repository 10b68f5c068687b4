package dev.graft.onnx;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.graft.GraftVersion;
import dev.graft.ModelFormatException;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * What produced a model, written into its {@code metadata_props}: {@code graft.version},
 * {@code graft.operation}, {@code graft.parameters} (a JSON object) and {@code graft.inputs} (a JSON array:
 * each input model's file name and SHA-256, with the name and SHA-256 of each of its external data files).
 * Existing {@code graft.*} entries of the template are replaced; other entries are kept.
 */
public record Provenance(String operation, Map<String, String> parameters, List<Input> inputs) {
    /** Metadata keys Graft owns start with this. */
    public static final String PREFIX = "graft.";
    private static final ObjectMapper JSON = new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    /**
     * An input model: file name (no folders, so outputs do not depend on where inputs were) and SHA-256, and
     * the same for each external data file.
     */
    public record Input(String file, String sha256, List<DataFile> data) {
        public static Input of(OnnxModel model) {
            List<DataFile> data = new java.util.ArrayList<>();
            for (java.nio.file.Path p : model.externalDataFiles()) {
                data.add(new DataFile(p.getFileName().toString(), FileHashes.shared().sha256(p)));
            }
            return new Input(model.file().getFileName().toString(), model.sha256(), data);
        }

        /** Starts hashing {@code model} on a thread of its own, so that it overlaps other work. */
        public static CompletableFuture<Input> hashInBackground(OnnxModel model) {
            return CompletableFuture.supplyAsync(() -> of(model), task -> {
                Thread t = new Thread(task, "graft-sha256");
                t.setDaemon(true);
                t.start();
            });
        }
    }

    /** An external data file of an input. */
    public record DataFile(String file, String sha256) {
    }

    public Provenance {
        parameters = new TreeMap<>(parameters);
        inputs = List.copyOf(inputs);
    }

    /**
     * The provenance Graft wrote into {@code model}'s metadata, or null when it has none (a model Graft did not
     * write). Entries that are there but not Graft's JSON are a {@link ModelFormatException} naming the file.
     */
    public static Provenance of(OnnxModel model) {
        Map<String, String> m = new LinkedHashMap<>();
        for (StringStringEntryProto e : model.proto().getMetadataPropsList()) {
            m.put(e.getKey(), e.getValue());
        }
        String operation = m.get(PREFIX + "operation");
        if (operation == null) {
            return null;
        }
        try {
            Map<String, String> parameters = m.containsKey(PREFIX + "parameters")
                    ? JSON.readValue(m.get(PREFIX + "parameters"), new TypeReference<Map<String, String>>() { })
                    : Map.of();
            List<Input> inputs = m.containsKey(PREFIX + "inputs")
                    ? JSON.readValue(m.get(PREFIX + "inputs"), new TypeReference<List<Input>>() { })
                    : List.of();
            return new Provenance(operation, parameters, inputs);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(model.file(), null, "metadata " + PREFIX + "parameters or " + PREFIX
                    + "inputs is not the JSON Graft writes: " + e.getOriginalMessage(), e);
        }
    }

    /** The metadata entries, in a fixed order. */
    public Map<String, String> toMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(PREFIX + "version", GraftVersion.get());
        m.put(PREFIX + "operation", operation);
        try {
            m.put(PREFIX + "parameters", JSON.writeValueAsString(parameters));
            m.put(PREFIX + "inputs", JSON.writeValueAsString(inputs));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        return m;
    }
}
