package dev.graft.adapters;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.graft.GraftIoException;
import dev.graft.onnx.InsideFolder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Hugging Face checkpoint: its parameters by name, as {@code save_pretrained} writes them: one
 * {@code model.safetensors}, or shards listed by {@code model.safetensors.index.json} ({@code weight_map}: parameter
 * name → shard file, in the index's folder). Open with a file or the folder that holds one; close it.
 */
public final class Checkpoint implements AutoCloseable {
    private final Path source;
    private final Map<String, Safetensors> byName = new LinkedHashMap<>();
    private final List<Safetensors> files = new ArrayList<>();

    private Checkpoint(Path source) {
        this.source = source;
    }

    /**
     * Opens {@code path}: a {@code .safetensors} file, a {@code model.safetensors.index.json}, or a folder holding
     * {@code model.safetensors} or the index.
     *
     * @throws AdapterFormatException naming the file if it is none of these, or the index names a shard that is
     *                                missing or lacks the parameter
     */
    public static Checkpoint open(Path path) {
        Path file = path;
        if (Files.isDirectory(path)) {
            file = Files.isRegularFile(path.resolve("model.safetensors")) ? path.resolve("model.safetensors")
                    : path.resolve("model.safetensors.index.json");
            InsideFolder.resolve(path, file.getFileName().toString(), file);
        }
        if (!Files.isRegularFile(file)) {
            throw new AdapterFormatException(path, null, "is not a checkpoint: expected a .safetensors file, a "
                    + "model.safetensors.index.json, or a folder with one of them");
        }
        Checkpoint c = new Checkpoint(file);
        try {
            if (file.getFileName().toString().endsWith(".json")) {
                c.readIndex(file);
            } else {
                Safetensors s = Safetensors.open(file);
                c.files.add(s);
                s.entries().keySet().forEach(n -> c.byName.put(n, s));
            }
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void readIndex(Path index) {
        JsonNode map;
        try {
            map = new ObjectMapper().readTree(Files.readString(index)).path("weight_map");
        } catch (IOException e) {
            throw new GraftIoException(index, "read", e);
        }
        if (!map.isObject() || map.isEmpty()) {
            throw new AdapterFormatException(index, null, "has no weight_map (parameter name → shard file)");
        }
        Map<String, Safetensors> shards = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String shard = e.getValue().asText();
            Path folder = index.toAbsolutePath().getParent().normalize();
            InsideFolder.resolve(folder, shard, index); // not absolute, no '..', no link out
            Path file = folder.resolve(shard).normalize();
            if (!folder.equals(file.getParent())) {
                throw new AdapterFormatException(index, e.getKey(), "names shard '" + shard + "' in a subfolder "
                        + "(expected it beside the index)");
            }
            Safetensors s = shards.computeIfAbsent(shard, k -> {
                Safetensors opened = Safetensors.open(file);
                files.add(opened);
                return opened;
            });
            if (s.entry(e.getKey()).isEmpty()) {
                throw new AdapterFormatException(file, e.getKey(), "is listed in " + index.getFileName()
                        + " but not in this shard");
            }
            byName.put(e.getKey(), s);
        }
    }

    /** The file opened: the safetensors file or the index. */
    public Path source() {
        return source;
    }

    /** The parameter names, in the checkpoint's order. */
    public List<String> names() {
        return List.copyOf(byName.keySet());
    }

    /** Parameter {@code name}'s entry (type and shape), if the checkpoint has it. */
    public Optional<Safetensors.Entry> entry(String name) {
        Safetensors s = byName.get(name);
        return s == null ? Optional.empty() : s.entry(name);
    }

    /** Parameter {@code name}'s values as float32, row-major. */
    public float[] floats(String name) {
        Safetensors s = byName.get(name);
        if (s == null) {
            throw new AdapterFormatException(source, name, "is not in the checkpoint");
        }
        return s.floats(name);
    }

    @Override
    public void close() {
        files.forEach(Safetensors::close);
    }
}
