package dev.graft.onnx;

import dev.graft.GraftIoException;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.graft.GraftException;
import dev.graft.tensor.ElementType;
import dev.graft.tensor.FloatCodec;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a model: everything of a template (nodes, IR version, opsets, doc strings, metadata, unknown fields)
 * with its main-graph initializers replaced by a given list, so that memory does not grow with the model. The
 * layout is planned first, so every tensor's bytes have a known place in the model file or the data file
 * ({@code <name>.data} beside the model, see {@link WriteOptions}): {@link #writeStructure} writes the protobuf
 * by hand around the computed tensors, and {@link #writeComputed} writes each computed tensor at its place,
 * from any thread and in any order, as soon as it is ready. The bytes written do not depend on that order. A
 * {@linkplain OutputTensor#companionOf companion} is written by its leader's computation; its own
 * {@link #writeComputed} only waits for that, so it must run on a thread that does not hold up the leader's.
 *
 * <p>A missing output folder is created (with its parents), as mergekit does; it stays if the write fails.
 *
 * <p>Atomic: both files are written beside the target under temporary names ({@link TemporaryFile}: locked while
 * written, so that a killed run's leftovers are told from a live writer's and removed by the next write), synced, and
 * moved into place (data file first, model last) by {@link #commit}, under a lock that keeps two writers of one
 * target from pairing one's model with the other's data ({@link TargetLock}); closing without committing, or any
 * failure, deletes the temporary files and creates no target.
 */
public final class OnnxWriter implements AutoCloseable {
    private static final long PROTOBUF_LIMIT = Integer.MAX_VALUE;
    private static final int RAW_DATA_FIELD = TensorProto.RAW_DATA_FIELD_NUMBER;
    private static final ThreadLocal<ByteBuffer> CHUNK =
            ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(1 << 20).order(java.nio.ByteOrder.LITTLE_ENDIAN));

    private final ModelProto template;
    private final List<OutputTensor> tensors;
    private final Path target;
    private final Path absolute;
    private final WriteOptions options;
    private final Layout layout;
    private final ModelProto head;
    private final GraphProto graphSkeleton;
    private final long graphSize;
    private final String dataName;
    private final TemporaryFile tmpModel;
    private final TemporaryFile tmpData;
    private final FileChannel model;
    private final FileChannel data;
    private final FlushBehind flushBehind;
    private final Map<String, Integer> indexByName = new HashMap<>();
    /** For each companion tensor ({@link OutputTensor#companionOf}), done when its leader has written it. */
    private final Map<Integer, java.util.concurrent.CompletableFuture<Void>> companions = new HashMap<>();
    private boolean committed;

    private OnnxWriter(ModelProto template, List<OutputTensor> tensors, Path target, WriteOptions options)
            throws IOException {
        this.template = template;
        this.tensors = List.copyOf(tensors);
        for (int i = 0; i < this.tensors.size(); i++) {
            indexByName.put(this.tensors.get(i).name(), i);
        }
        for (int i = 0; i < this.tensors.size(); i++) {
            String leader = this.tensors.get(i).leader();
            if (leader != null) {
                Integer l = indexByName.get(leader);
                if (l == null || this.tensors.get(l).slices() == null) {
                    throw new IllegalArgumentException("tensor '" + this.tensors.get(i).name() + "': its leader '"
                            + leader + "' is not a streamed tensor of this model");
                }
                companions.put(i, new java.util.concurrent.CompletableFuture<>());
            }
        }
        this.target = target;
        this.options = options;
        this.absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        if (Files.isDirectory(absolute)) {
            throw new GraftException(target, null, "is a directory (expected a model file path)");
        }
        Files.createDirectories(folder); // as mergekit does: -o into a new folder makes it
        long total = 0;
        for (OutputTensor t : tensors) {
            total += Math.max(0, t.byteLength());
        }
        String templateData = externalDataFile(template);
        boolean external = options.layout() == WriteOptions.Layout.EXTERNAL
                || (options.layout() == WriteOptions.Layout.AUTO && (total > options.externalAbove() || templateData != null));
        // the template's naming: Optimum's model.onnx_data, or model.onnx.data (ONNX Runtime GenAI, and Graft's own)
        this.dataName = absolute.getFileName() + (templateData != null && templateData.endsWith("_data") ? "_data"
                : ".data");

        ModelProto.Builder builder = template.toBuilder();
        GraphProto.Builder graph = builder.getGraphBuilder().clearInitializer();
        Map<String, ElementType> templateTypes = new HashMap<>();
        for (TensorProto t : template.getGraph().getInitializerList()) {
            templateTypes.put(t.getName(), ElementType.fromCode(t.getDataType(), null, t.getName()));
        }
        StorageCasts.apply(graph, templateTypes, tensors, defaultOpset(template), target);
        this.graphSkeleton = graph.build();
        // metadata_props go last (protobuf fields may come in any order) so provenance can be computed meanwhile
        this.head = builder.clearGraph().clearMetadataProps().build();
        long graphStart = head.getSerializedSize() + CodedOutputStream.computeTagSize(ModelProto.GRAPH_FIELD_NUMBER);
        this.layout = Layout.plan(this.tensors, external, options.inlineBelow(), dataName, graphSkeleton, graphStart);
        this.graphSize = layout.graphSize;
        long modelSize = layout.graphEnd + (1 << 20); // + metadata
        if (modelSize > PROTOBUF_LIMIT) {
            throw new GraftException(target, null, "an inline model of " + modelSize
                    + " bytes exceeds protobuf's 2 GiB limit; write the weights as external data");
        }
        TemporaryFile tmpM = null;
        try {
            tmpM = TemporaryFile.beside(absolute);
            this.tmpData = layout.anyExternal ? TemporaryFile.beside(absolute.resolveSibling(dataName)) : null;
            if (tmpData == null) { // a killed external write's data file goes too
                TemporaryFile.removeStale(folder, dataName);
            }
        } catch (IOException | RuntimeException e) {
            if (tmpM != null) {
                tmpM.close();
            }
            throw e;
        }
        this.tmpModel = tmpM;
        this.model = tmpM.channel();
        this.data = tmpData == null ? null : tmpData.channel();
        this.flushBehind = options.sync() ? new FlushBehind(data != null ? data : model) : null;
    }

    /** The external data file the template's initializers name first, or null if they are all inline. */
    private static String externalDataFile(ModelProto template) {
        for (TensorProto t : template.getGraph().getInitializerList()) {
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                for (var entry : t.getExternalDataList()) {
                    if (entry.getKey().equals("location")) {
                        return entry.getValue();
                    }
                }
            }
        }
        return null;
    }

    /**
     * Plans the writing of {@code template} with {@code initializers} as its main-graph initializers to
     * {@code target}, and opens the temporary files.
     */
    public static OnnxWriter create(ModelProto template, List<OutputTensor> initializers, Path target,
                                    WriteOptions options) {
        try {
            return new OnnxWriter(template, initializers, target, options);
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        }
    }

    /**
     * Writes {@code template} with {@code initializers} to {@code target}, computing tensors one after
     * another on this thread.
     *
     * @return the files written: the model, then the data file if any
     */
    public static WrittenFiles write(ModelProto template, List<OutputTensor> initializers, Path target,
                                     WriteOptions options) {
        try (OnnxWriter w = create(template, initializers, target, options)) {
            w.writeStructure(index -> { });
            for (int i = 0; i < initializers.size(); i++) {
                if (w.isComputed(i) && initializers.get(i).leader() == null) {
                    w.writeComputed(i);
                }
            }
            for (int i = 0; i < initializers.size(); i++) { // companions, written by their leaders by now
                if (initializers.get(i).leader() != null) {
                    w.writeComputed(i);
                }
            }
            return w.commit();
        }
    }

    /** The tensors being written, in order. */
    public List<OutputTensor> tensors() {
        return tensors;
    }

    /** True if tensor {@code index} is computed ({@link #writeComputed}), not copied or written verbatim. */
    public boolean isComputed(int index) {
        OutputTensor t = tensors.get(index);
        return !t.verbatim() && !t.isCopy();
    }

    /**
     * Writes everything but the computed tensors' bytes: the protobuf structure, and the verbatim and copied
     * tensors (external data moved file to file by the kernel), telling {@code written} the index of each of
     * those. Call once; {@link #writeComputed} may run at the same time.
     */
    public void writeStructure(java.util.function.IntConsumer written) {
        try (Sources sources = new Sources()) {
            OutputStream stream = Channels.newOutputStream(model);
            CodedOutputStream cos = CodedOutputStream.newInstance(stream, 1 << 16);
            head.writeTo(cos);
            cos.writeTag(ModelProto.GRAPH_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
            cos.writeUInt64NoTag(graphSize);
            graphSkeleton.writeTo(cos);
            for (int i = 0; i < tensors.size(); i++) {
                OutputTensor t = tensors.get(i);
                cos.writeTag(GraphProto.INITIALIZER_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                cos.writeUInt64NoTag(layout.entrySizes[i]);
                layout.headers[i].writeTo(cos);
                if (t.verbatim()) {
                    written.accept(i);
                    continue;
                }
                boolean inline = layout.offsets[i] < 0;
                if (inline) {
                    cos.writeTag(RAW_DATA_FIELD, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                    cos.writeUInt64NoTag(t.byteLength());
                }
                cos.flush();
                if (inline && model.position() != layout.positions[i]) {
                    throw new IllegalStateException("tensor '" + t.name() + "' planned at byte " + layout.positions[i]
                            + " of the model file, reached at " + model.position());
                }
                if (t.isCopy()) {
                    FileChannel sink = inline ? model : data;
                    long at = layout.positions[i];
                    if (t.region() != null) {
                        sources.transfer(t.region(), sink, at);
                    } else {
                        writeFully(sink, t.sourceBytes().duplicate(), at);
                    }
                    t.written();
                    written.accept(i);
                }
                if (inline) {
                    model.position(layout.positions[i] + t.byteLength()); // computed bytes land there
                }
            }
            cos.flush();
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        }
    }

    /**
     * Computes tensor {@code index} (its values) and writes it, encoded to its type, at its place; thread-safe,
     * in any order, once per computed tensor. Values are encoded a chunk at a time into a direct buffer of the
     * thread, which the kernel copies from: no encoded copy of the whole tensor.
     */
    public void writeComputed(int index) {
        OutputTensor t = tensors.get(index);
        if (!isComputed(index)) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' is not computed");
        }
        FileChannel sink = channel(index);
        long start = layout.positions[index];
        if (t.leader() != null) {
            awaitLeader(t, index);
        } else if (t.slices() != null) {
            writeSlices(index);
        } else {
            float[] values = compute(t);
            encodeAt(t, values, 0, values.length, sink, start);
        }
        t.written();
        if (flushBehind != null) {
            flushBehind.wrote(t.byteLength());
        }
    }

    /**
     * Writes the metadata (with the provenance, if any), syncs if asked, and moves the files into place. Call
     * after {@link #writeStructure} and every {@link #writeComputed} have returned.
     *
     * @return the files written: the model, then the data file if any
     */
    public WrittenFiles commit() {
        try {
            CodedOutputStream cos = CodedOutputStream.newInstance(Channels.newOutputStream(
                    model.position(layout.graphEnd)), 1 << 16);
            for (StringStringEntryProto e : metadata(template, options)) {
                cos.writeMessage(ModelProto.METADATA_PROPS_FIELD_NUMBER, e);
            }
            cos.flush();
            if (data != null && data.size() < layout.dataEnd) {
                writeFully(data, ByteBuffer.allocate(1), layout.dataEnd - 1); // trailing tensors of zero bytes
            }
            if (options.sync()) {
                flushBehind.finish();
                model.force(false);
                if (data != null) {
                    data.force(false);
                }
            }
            Path finalData = absolute.resolveSibling(dataName);
            TargetLock lock = TargetLock.of(absolute); // another run's model never meets this run's data
            // the previous model's data, kept under a second name until this model is in place
            TemporaryFile previous = TemporaryFile.linkBeside(finalData);
            try {
                if (tmpData != null) {
                    tmpData.moveTo(finalData);
                } else {
                    Files.deleteIfExists(finalData); // a stale data file of an earlier external write
                }
                tmpModel.moveTo(absolute);
            } catch (IOException e) {
                restore(previous, finalData, e);
                throw e;
            } finally {
                lock.close();
                if (previous != null) {
                    previous.close();
                }
            }
            committed = true;
            close(tmpModel, tmpData);
            return WrittenFiles.of(tmpData == null ? List.of(absolute) : List.of(absolute, finalData));
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        }
    }

    /**
     * Puts {@code previous} (a link to the data file there was before, or null if there was none) back as {@code data}
     * after the model could not be moved into place, so that the previous model keeps its data; a failure here is
     * added to {@code cause}.
     */
    private static void restore(TemporaryFile previous, Path data, IOException cause) {
        try {
            if (previous == null) {
                Files.deleteIfExists(data); // this run's data, which no model reads
            } else {
                previous.moveTo(data);
            }
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }

    /** Deletes the temporary files unless {@link #commit} succeeded. */
    @Override
    public void close() {
        if (committed) {
            return;
        }
        if (flushBehind != null) {
            flushBehind.cancel();
        }
        close(tmpModel, tmpData);
    }

    /** Closes the temporary files: deletes those not moved into place, and releases their locks. */
    private static void close(TemporaryFile model, TemporaryFile data) {
        model.close();
        if (data != null) {
            data.close();
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

    /** The file tensor {@code index}'s bytes go to. */
    private FileChannel channel(int index) {
        return layout.offsets[index] < 0 ? model : data;
    }

    /**
     * Writes streamed tensor {@code index}'s slices, and its companions', at their places as they come; every entry
     * must come exactly once (counted, and checked against the tensor's size). The companions' jobs are told when
     * they are written, or that the computation failed.
     */
    private void writeSlices(int index) {
        OutputTensor t = tensors.get(index);
        Map<String, SlicePlace> places = new HashMap<>();
        companions.keySet().stream().filter(j -> t.name().equals(tensors.get(j).leader()))
                .forEach(j -> places.put(tensors.get(j).name(), new SlicePlace(j)));
        SlicePlace own = new SlicePlace(index);
        try {
            t.slices().produce(new OutputTensor.SliceSink() {
                @Override
                public void accept(long first, float[] values, int from, int count) {
                    own.accept(first, values, from, count);
                }

                @Override
                public OutputTensor.SliceSink companion(String name) {
                    SlicePlace p = places.get(name);
                    if (p == null) {
                        throw new IllegalArgumentException("tensor '" + name + "' is not a companion of '" + t.name()
                                + "'");
                    }
                    return p;
                }
            });
            own.check();
            for (SlicePlace p : places.values()) {
                p.check();
                companions.get(p.index).complete(null);
            }
        } catch (Exception | Error e) {
            RuntimeException f = e instanceof GraftException g ? g : e instanceof Exception x ? failure(t, x)
                    : new IllegalStateException(e);
            places.values().forEach(p -> companions.get(p.index).completeExceptionally(f));
            throw f;
        }
    }

    /** Where one streamed tensor's slices go, counting its entries. */
    private final class SlicePlace implements OutputTensor.SliceSink {
        private final int index;
        private final OutputTensor t;
        private final long count;
        private long received;

        SlicePlace(int index) {
            this.index = index;
            this.t = tensors.get(index);
            this.count = t.byteLength() * 8 / t.type().bits();
        }

        @Override
        public void accept(long first, float[] values, int from, int n) {
            if (first < 0 || first + n > count) {
                throw new GraftException(target, t.name(), "got a slice of entries [" + first + ", "
                        + (first + n) + "), outside the tensor's " + count + " entries");
            }
            encodeAt(t, values, from, n, channel(index), layout.positions[index] + first * (t.type().bits() / 8));
            received += n;
        }

        void check() {
            if (received != count) {
                throw new GraftException(target, t.name(), "got " + received + " values in slices, expected "
                        + count);
            }
        }
    }

    /** A companion's part: waiting until its leader's job has written it (or failed). */
    private void awaitLeader(OutputTensor t, int index) {
        try {
            companions.get(index).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new GraftException(target, t.name(), "was not written: the write was interrupted");
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
        }
    }

    /** Encodes {@code values[from, from + count)} to the tensor's type, a chunk at a time, and writes them at {@code at}. */
    private void encodeAt(OutputTensor t, float[] values, int from, int count, FileChannel sink, long at) {
        ByteBuffer chunk = CHUNK.get();
        int perChunk = chunk.capacity() / (t.type().bits() / 8);
        try {
            for (int end = from + count; from < end; from += perChunk) {
                int n = Math.min(perChunk, end - from);
                chunk.clear();
                FloatCodec.encode(t.type(), values, from, n, chunk);
                chunk.flip();
                int bytes = chunk.remaining();
                writeFully(sink, chunk, at);
                at += bytes;
            }
        } catch (IOException e) {
            throw new GraftIoException(target, "written", e);
        }
    }

    /** A computed tensor's values, with failures turned into errors naming the tensor. */
    private float[] compute(OutputTensor t) {
        float[] values;
        try {
            values = t.values().get();
        } catch (Exception e) {
            throw failure(t, e);
        }
        if (t.type().byteLength(values.length) != t.byteLength()) {
            throw new GraftException(target, t.name(), "got " + values.length + " values, expected "
                    + t.byteLength() * 8 / t.type().bits() + " for " + t.type().displayName());
        }
        return values;
    }

    /** A computation's failure as an error naming the tensor (Graft's own errors pass through). */
    private GraftException failure(OutputTensor t, Exception e) {
        Throwable cause = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null
                ? e.getCause() : e;
        if (cause instanceof GraftException g) {
            return g;
        }
        String why = cause instanceof IllegalArgumentException ? cause.getMessage() : cause.toString();
        return new GraftException(target, t.name(), "could not compute the tensor: " + why, cause);
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

    /**
     * Writes all of {@code b} at {@code position}. Heap buffers go in 1 MiB slices: the JDK copies a heap buffer
     * into a temporary direct buffer of the same size (and caches it per thread), which must not grow with the
     * tensor.
     */
    private static void writeFully(FileChannel ch, ByteBuffer b, long position) throws IOException {
        long at = position;
        while (b.hasRemaining()) {
            ByteBuffer slice = b.slice();
            if (!b.isDirect()) {
                slice.limit(Math.min(slice.remaining(), 1 << 20));
            }
            int n = slice.remaining();
            while (slice.hasRemaining()) {
                at += ch.write(slice, at);
            }
            b.position(b.position() + n);
        }
    }

    /**
     * Syncs the file holding most of the weights in the background every {@value #EVERY} bytes written, so
     * that the disk writes while tensors are computed and the sync at commit has little left to do.
     */
    private static final class FlushBehind {
        private static final long EVERY = 32L << 20;
        private final FileChannel file;
        private final java.util.concurrent.ExecutorService thread = java.util.concurrent.Executors
                .newSingleThreadExecutor(r -> {
                    Thread t = new Thread(r, "graft-flush");
                    t.setDaemon(true);
                    return t;
                });
        private long written;
        private long flushedAt;
        private java.util.concurrent.Future<?> pending;

        FlushBehind(FileChannel file) {
            this.file = file;
        }

        synchronized void wrote(long bytes) {
            written += bytes;
            if (written - flushedAt >= EVERY && (pending == null || pending.isDone())) {
                flushedAt = written;
                pending = thread.submit(() -> {
                    file.force(false);
                    return null;
                });
            }
        }

        /** Waits for a sync in progress; its failure is reported by the final sync, which repeats it. */
        void finish() {
            java.util.concurrent.Future<?> last;
            synchronized (this) {
                last = pending;
            }
            try {
                if (last != null) {
                    last.get();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.util.concurrent.ExecutionException ignored) {
                // the final force(false) fails the same way and is reported
            } finally {
                thread.shutdown();
            }
        }

        void cancel() {
            thread.shutdownNow();
        }
    }

    /** Source files of pass-through copies, opened once per write. */
    private static final class Sources implements AutoCloseable {
        private final Map<Path, FileChannel> open = new HashMap<>();

        /** Copies {@code r} to {@code sink} at {@code at} (kernel-side), moving {@code sink}'s position there. */
        void transfer(FileRegion r, FileChannel sink, long at) throws IOException {
            FileChannel src = open.get(r.file());
            if (src == null) {
                src = FileChannel.open(r.file(), StandardOpenOption.READ);
                open.put(r.file(), src);
            }
            sink.position(at);
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

    /**
     * Where each tensor goes: its serialized header, and the place of its bytes: inline at a position of the
     * model file, or at an offset of the data file (tensors of at least 1 MiB aligned to 64 KiB there).
     */
    private static final class Layout {
        final TensorProto[] headers;
        final long[] entrySizes;
        /** Offset in the data file, or -1 for inline tensors. */
        final long[] offsets;
        /** Where the tensor's bytes start in its file (model file or data file). */
        final long[] positions;
        boolean anyExternal;
        long graphSize;
        long graphEnd;
        long dataEnd;

        private Layout(int n) {
            headers = new TensorProto[n];
            entrySizes = new long[n];
            offsets = new long[n];
            positions = new long[n];
        }

        /**
         * @param graphStart where the graph field's length starts in the model file (after the model head and
         *                   the graph tag)
         */
        static Layout plan(List<OutputTensor> tensors, boolean external, long inlineBelow, String dataName,
                           GraphProto skeleton, long graphStart) {
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
                    l.positions[i] = pos;
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
            l.dataEnd = pos;
            long graphSize = skeleton.getSerializedSize();
            for (long entry : l.entrySizes) {
                graphSize += CodedOutputStream.computeTagSize(GraphProto.INITIALIZER_FIELD_NUMBER)
                        + CodedOutputStream.computeUInt64SizeNoTag(entry) + entry;
            }
            l.graphSize = graphSize;
            // inline tensors' bytes: after the graph's length, the skeleton, and each entry's tag, length, header
            // and raw_data tag and length
            long at = graphStart + CodedOutputStream.computeUInt64SizeNoTag(graphSize) + skeleton.getSerializedSize();
            for (int i = 0; i < tensors.size(); i++) {
                at += CodedOutputStream.computeTagSize(GraphProto.INITIALIZER_FIELD_NUMBER)
                        + CodedOutputStream.computeUInt64SizeNoTag(l.entrySizes[i]);
                if (l.offsets[i] < 0 && !tensors.get(i).verbatim()) {
                    long bytes = tensors.get(i).byteLength();
                    l.positions[i] = at + l.headers[i].getSerializedSize() + CodedOutputStream.computeTagSize(RAW_DATA_FIELD)
                            + CodedOutputStream.computeUInt64SizeNoTag(bytes);
                }
                at += l.entrySizes[i];
            }
            l.graphEnd = at;
            return l;
        }

        private static StringStringEntryProto entry(String k, String v) {
            return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
        }
    }
}
