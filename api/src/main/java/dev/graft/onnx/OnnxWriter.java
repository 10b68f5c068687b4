package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.graft.GraftException;
import dev.graft.tensor.ElementType;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a model: everything of a template (nodes, IR version, opsets, doc strings, metadata, unknown fields)
 * with its main-graph initializers replaced by a given list, streamed one tensor at a time so that memory does
 * not grow with the model. The protobuf is emitted by hand around the tensor data, its sizes computed in
 * advance; external data goes to {@code <name>.data} beside the model (see {@link WriteOptions}).
 *
 * <p>Atomic: both files are written beside the target under temporary names, synced, and moved into place
 * (data file first, model last); after any failure the temporary files are deleted and no target is created.
 */
public final class OnnxWriter {
    private static final long PROTOBUF_LIMIT = Integer.MAX_VALUE;
    private static final int RAW_DATA_FIELD = TensorProto.RAW_DATA_FIELD_NUMBER;

    private OnnxWriter() {
    }

    /**
     * Writes {@code template} with {@code initializers} as its main-graph initializers to {@code target}.
     *
     * @return the files written: the model, then the data file if any
     */
    public static WrittenFiles write(ModelProto template, List<OutputTensor> initializers, Path target,
                                   WriteOptions options) {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        if (Files.isDirectory(absolute)) {
            throw new GraftException(target, null, "is a directory (expected a model file path)");
        }
        if (!Files.isDirectory(folder)) {
            throw new GraftException(target, null, "folder " + folder + " does not exist");
        }
        long total = 0;
        for (OutputTensor t : initializers) {
            total += Math.max(0, t.byteLength());
        }
        boolean external = options.layout() == WriteOptions.Layout.EXTERNAL
                || (options.layout() == WriteOptions.Layout.AUTO && total > options.externalAbove());
        String dataName = absolute.getFileName() + ".data";
        Layout layout = Layout.plan(initializers, external, options.inlineBelow(), dataName);

        ModelProto.Builder model = template.toBuilder();
        GraphProto.Builder graph = model.getGraphBuilder().clearInitializer();
        Map<String, ElementType> templateTypes = new HashMap<>();
        for (TensorProto t : template.getGraph().getInitializerList()) {
            templateTypes.put(t.getName(), ElementType.fromCode(t.getDataType(), null, t.getName()));
        }
        StorageCasts.apply(graph, templateTypes, initializers, defaultOpset(template), target);
        GraphProto graphSkeleton = graph.build();
        // metadata_props go last (protobuf fields may come in any order) so provenance can be computed meanwhile
        ModelProto head = model.clearGraph().clearMetadataProps().build();

        long graphSize = graphSkeleton.getSerializedSize();
        for (long entry : layout.entrySizes) {
            graphSize += CodedOutputStream.computeTagSize(GraphProto.INITIALIZER_FIELD_NUMBER)
                    + CodedOutputStream.computeUInt64SizeNoTag(entry) + entry;
        }
        long modelSize = head.getSerializedSize() + CodedOutputStream.computeTagSize(ModelProto.GRAPH_FIELD_NUMBER)
                + CodedOutputStream.computeUInt64SizeNoTag(graphSize) + graphSize + (1 << 20); // + metadata
        if (modelSize > PROTOBUF_LIMIT) {
            throw new GraftException(target, null, "an inline model of " + modelSize
                    + " bytes exceeds protobuf's 2 GiB limit; write the weights as external data");
        }

        Path tmpModel = null;
        Path tmpData = null;
        boolean done = false;
        try {
            tmpModel = Files.createTempFile(folder, "." + absolute.getFileName() + ".", ".tmp");
            tmpData = layout.anyExternal ? Files.createTempFile(folder, "." + dataName + ".", ".tmp") : null;
            try (FileChannel out = FileChannel.open(tmpModel, StandardOpenOption.WRITE);
                 FileChannel data = tmpData == null ? null : FileChannel.open(tmpData, StandardOpenOption.WRITE);
                 Sources sources = new Sources()) {
                OutputStream stream = Channels.newOutputStream(out);
                CodedOutputStream cos = CodedOutputStream.newInstance(stream, 1 << 16);
                head.writeTo(cos);
                cos.writeTag(ModelProto.GRAPH_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                cos.writeUInt64NoTag(graphSize);
                graphSkeleton.writeTo(cos);
                long dataPos = 0;
                for (int i = 0; i < initializers.size(); i++) {
                    OutputTensor t = initializers.get(i);
                    TensorProto header = layout.headers[i];
                    cos.writeTag(GraphProto.INITIALIZER_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                    cos.writeUInt64NoTag(layout.entrySizes[i]);
                    header.writeTo(cos);
                    if (!t.verbatim()) {
                        FileChannel sink;
                        if (layout.offsets[i] >= 0) {
                            dataPos = pad(data, dataPos, layout.offsets[i]) + t.byteLength();
                            sink = data;
                        } else {
                            cos.writeTag(RAW_DATA_FIELD, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                            cos.writeUInt64NoTag(t.byteLength());
                            cos.flush();
                            sink = out;
                        }
                        if (t.region() != null) {
                            sources.transfer(t.region(), sink);
                        } else {
                            writeFully(sink, fetch(t, target));
                        }
                    }
                    t.written();
                }
                for (StringStringEntryProto e : metadata(template, options)) {
                    cos.writeMessage(ModelProto.METADATA_PROPS_FIELD_NUMBER, e);
                }
                cos.flush();
                if (options.sync()) {
                    out.force(false);
                    if (data != null) {
                        data.force(false);
                    }
                }
            }
            Path finalData = folder.resolve(dataName);
            if (tmpData != null) {
                move(tmpData, finalData);
            } else {
                Files.deleteIfExists(finalData); // a stale data file of an earlier external write
            }
            move(tmpModel, absolute);
            done = true;
            return WrittenFiles.of(tmpData == null ? List.of(absolute) : List.of(absolute, finalData));
        } catch (IOException e) {
            throw new GraftException(target, null, "cannot write: " + e.getMessage(), e);
        } finally {
            if (!done) {
                deleteQuietly(tmpModel);
                deleteQuietly(tmpData);
            }
        }
    }

    private static long defaultOpset(ModelProto m) {
        for (ai.onnx.proto.OnnxMl.OperatorSetIdProto o : m.getOpsetImportList()) {
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) {
                return o.getVersion();
            }
        }
        return 1;
    }

    private static ByteBuffer fetch(OutputTensor t, Path target) {
        ByteBuffer bytes;
        try {
            bytes = t.data().get();
        } catch (GraftException e) {
            throw e;
        } catch (Exception e) {
            Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null
                    ? e.getCause() : e;
            if (cause instanceof GraftException) {
                throw (GraftException) cause;
            }
            String why = cause instanceof IllegalArgumentException ? cause.getMessage() : cause.toString();
            throw new GraftException(target, t.name(), "could not compute the tensor: " + why, cause);
        }
        if (bytes.remaining() != t.byteLength()) {
            throw new GraftException(target, t.name(), "got " + bytes.remaining() + " bytes of data, expected "
                    + t.byteLength() + " for " + t.type().displayName());
        }
        return bytes.duplicate();
    }

    /** The template's metadata, with its {@code graft.*} entries replaced by the provenance if there is one. */
    private static List<StringStringEntryProto> metadata(ModelProto template, WriteOptions options) {
        if (options.provenance() == null) {
            return template.getMetadataPropsList();
        }
        List<StringStringEntryProto> out = new java.util.ArrayList<>();
        for (StringStringEntryProto e : template.getMetadataPropsList()) {
            if (!e.getKey().startsWith(Provenance.PREFIX)) {
                out.add(e);
            }
        }
        options.provenance().get().toMetadata().forEach((k, v) ->
                out.add(StringStringEntryProto.newBuilder().setKey(k).setValue(v).build()));
        return out;
    }

    private static long pad(FileChannel data, long pos, long target) throws IOException {
        if (target > pos) {
            writeFully(data, ByteBuffer.allocate((int) (target - pos)));
        }
        return target;
    }

    /**
     * Writes all of {@code b}. Heap buffers go in 1 MiB slices: the JDK copies a heap buffer into a temporary
     * direct buffer of the same size (and caches it per thread), which must not grow with the tensor.
     */
    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        if (b.isDirect()) {
            while (b.hasRemaining()) {
                ch.write(b);
            }
            return;
        }
        while (b.hasRemaining()) {
            ByteBuffer slice = b.slice();
            slice.limit(Math.min(slice.remaining(), 1 << 20));
            int n = slice.remaining();
            while (slice.hasRemaining()) {
                ch.write(slice);
            }
            b.position(b.position() + n);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteQuietly(Path p) {
        if (p != null) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // best effort: the temporary name never collides with a target
            }
        }
    }

    /** Source files of pass-through copies, opened once per write. */
    private static final class Sources implements AutoCloseable {
        private final Map<Path, FileChannel> open = new HashMap<>();

        void transfer(FileRegion r, FileChannel sink) throws IOException {
            FileChannel src = open.get(r.file());
            if (src == null) {
                src = FileChannel.open(r.file(), StandardOpenOption.READ);
                open.put(r.file(), src);
            }
            long pos = r.offset();
            long end = r.offset() + r.length();
            while (pos < end) {
                long n = src.transferTo(pos, end - pos, sink);
                if (n <= 0) {
                    throw new IOException("external data " + r.file() + " ended early at byte " + pos);
                }
                pos += n;
            }
        }

        @Override
        public void close() throws IOException {
            for (FileChannel ch : open.values()) {
                ch.close();
            }
        }
    }

    /** Where each tensor goes: inline or at an offset of the data file, and each entry's serialized header. */
    private static final class Layout {
        final TensorProto[] headers;
        final long[] entrySizes;
        final long[] offsets;
        boolean anyExternal;

        private Layout(int n) {
            headers = new TensorProto[n];
            entrySizes = new long[n];
            offsets = new long[n];
        }

        static Layout plan(List<OutputTensor> tensors, boolean external, long inlineBelow, String dataName) {
            Layout l = new Layout(tensors.size());
            long pos = 0;
            for (int i = 0; i < tensors.size(); i++) {
                OutputTensor t = tensors.get(i);
                l.offsets[i] = -1;
                if (t.verbatim()) {
                    l.headers[i] = t.header();
                    l.entrySizes[i] = t.header().getSerializedSize();
                } else if (external && t.byteLength() >= inlineBelow) {
                    if (t.byteLength() >= WriteOptions.ALIGN_ABOVE) {
                        pos = (pos + WriteOptions.ALIGNMENT - 1) / WriteOptions.ALIGNMENT * WriteOptions.ALIGNMENT;
                    }
                    l.offsets[i] = pos;
                    l.anyExternal = true;
                    l.headers[i] = t.header().toBuilder()
                            .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                            .addExternalData(entry("location", dataName))
                            .addExternalData(entry("offset", Long.toString(pos)))
                            .addExternalData(entry("length", Long.toString(t.byteLength())))
                            .build();
                    l.entrySizes[i] = l.headers[i].getSerializedSize();
                    pos += t.byteLength();
                } else {
                    l.headers[i] = t.header();
                    l.entrySizes[i] = t.header().getSerializedSize()
                            + CodedOutputStream.computeTagSize(RAW_DATA_FIELD)
                            + CodedOutputStream.computeUInt64SizeNoTag(t.byteLength()) + t.byteLength();
                }
            }
            return l;
        }

        private static StringStringEntryProto entry(String k, String v) {
            return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
        }
    }
}
