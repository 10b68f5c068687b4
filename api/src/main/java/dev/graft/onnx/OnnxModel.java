package dev.graft.onnx;

import dev.graft.GraftIoException;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.graft.ModelFormatException;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An ONNX model opened for reading. The file is memory-mapped and parsed with aliasing, so {@code raw_data}
 * stays in the mapping; external data is mapped one tensor at a time on demand. Every weight's dims, type and
 * data range are checked when the model is opened, so a model that opens has no lies about its sizes.
 *
 * <p>Thread-safe for reading. Close it when done; weights must not be read after that.
 */
public final class OnnxModel implements AutoCloseable {
    private final Path file;
    private final ModelProto proto;
    private final ExternalDataFiles externalData;
    private final List<Weight> weights;
    private final Map<String, Weight> mainGraphWeights;
    private final MappedByteBuffer mapping;
    private final FileState opened;
    private volatile boolean closed;

    private OnnxModel(Path file, MappedByteBuffer mapping, FileState opened, ModelProto proto) {
        this.file = file;
        this.opened = opened;
        this.mapping = mapping;
        this.proto = proto;
        this.externalData = new ExternalDataFiles(file);
        List<Weight> all = new ArrayList<>();
        Map<String, Weight> main = new LinkedHashMap<>();
        try {
            collect(proto.getGraph(), all);
            for (Weight w : all) {
                if (w.scope().isEmpty() && main.putIfAbsent(w.name(), w) != null) {
                    throw new ModelFormatException(file, w.name(), "declared twice in the main graph");
                }
            }
        } catch (RuntimeException e) {
            externalData.close(); // a model that fails its checks keeps no data file open
            throw e;
        }
        this.weights = Collections.unmodifiableList(all);
        this.mainGraphWeights = Collections.unmodifiableMap(main);
    }

    /**
     * Opens and checks an ONNX model.
     *
     * @throws ModelFormatException if the file is not a well-formed ONNX model
     * @throws dev.graft.UnsafeExternalDataException if external data would be read from outside its folder
     */
    public static OnnxModel open(Path file) {
        MappedByteBuffer mapping;
        FileState opened;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            opened = FileState.of(file);
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                throw new ModelFormatException(file, null, "is " + size + " bytes; a protobuf model file is at "
                        + "most 2 GiB (larger models keep their weights in external data)");
            }
            mapping = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
        } catch (IOException e) {
            throw new GraftIoException(file, "read", e);
        }
        ModelProto proto;
        try {
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(mapping).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            proto = ModelProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            throw new ModelFormatException(file, null,
                    "is not a valid ONNX model (truncated or corrupt protobuf: " + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new GraftIoException(file, "read", e);
        }
        if (!proto.hasGraph() || proto.getIrVersion() <= 0) {
            throw new ModelFormatException(file, null,
                    "is not an ONNX model (expected a ModelProto with an ir_version and a graph)");
        }
        return new OnnxModel(file, mapping, opened, proto);
    }

    private void collect(GraphProto root, List<Weight> out) {
        Graphs.forEach(root, (scope, graph) -> {
            for (TensorProto t : graph.getInitializerList()) {
                out.add(new Weight(this, externalData, t, t.getName(), scope, Weight.Origin.INITIALIZER));
            }
            for (NodeProto node : graph.getNodeList()) {
                if (Graphs.isTensorConstant(node)) {
                    out.add(new Weight(this, externalData, Graphs.constantValue(node), node.getOutput(0), scope,
                            Weight.Origin.CONSTANT_NODE));
                }
            }
        });
    }

    /** The model file. */
    public Path file() {
        return file;
    }

    /** The parsed model; {@code raw_data} fields alias the file mapping. */
    public ModelProto proto() {
        return proto;
    }

    /** Every weight: initializers, then Constant-node tensors, of the main graph and then of each subgraph. */
    public List<Weight> weights() {
        return weights;
    }

    /** The main graph's initializers, in the model's own order. */
    public List<Weight> initializers() {
        List<Weight> out = new ArrayList<>();
        for (Weight w : weights) {
            if (w.scope().isEmpty() && w.origin() == Weight.Origin.INITIALIZER) {
                out.add(w);
            }
        }
        return out;
    }

    /** A main-graph weight (initializer or Constant node output) by name. */
    public Optional<Weight> weight(String name) {
        return Optional.ofNullable(mainGraphWeights.get(name));
    }

    /** Total bytes of all weights' data. */
    public long weightBytes() {
        long sum = 0;
        for (Weight w : weights) {
            sum += Math.max(0, w.byteLength());
        }
        return sum;
    }

    /** True if any weight lives in an external data file. */
    public boolean hasExternalData() {
        return weights.stream().anyMatch(w -> w.storage() == Weight.Storage.EXTERNAL);
    }

    /** SHA-256 (hex) of the model file (see {@link FileHashes}). */
    public String sha256() {
        checkOpen();
        return FileHashes.shared().sha256(file);
    }

    /** The external data files this model reads, in first-use order. */
    public List<Path> externalDataFiles() {
        List<Path> out = new ArrayList<>();
        externalData.files().forEach(out::add);
        return out;
    }

    /**
     * Checks that the model file and every external data file opened so far are what they were when opened: not
     * truncated, rewritten or replaced since (weights are read from memory mappings of them, so a change means what was
     * read may be a mixture). Graft's writers call this before a result is moved into place.
     *
     * @param cause the failure being explained (a fault reading a mapping of a truncated file), or null
     * @throws dev.graft.InputChangedException naming the file that changed and how
     */
    public void checkUnchanged(Throwable cause) {
        opened.check(cause);
        externalData.checkUnchanged(cause);
    }

    ExternalDataFiles externalData() {
        return externalData;
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException(file + " is closed");
        }
    }

    @Override
    public void close() {
        closed = true;
        externalData.close();
    }

    @Override
    public String toString() {
        return "OnnxModel[" + file + ", " + weights.size() + " weights]";
    }
}
