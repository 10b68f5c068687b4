package dev.graft.onnx;

import dev.graft.GraftIoException;
import dev.graft.ModelFormatException;
import dev.graft.UnsafeExternalDataException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The external data files of one model. A {@code location} is accepted only if it is relative, has no
 * {@code ..} component and, with every symbolic link followed, stays inside the model's folder ({@link InsideFolder}:
 * a Hugging Face cache snapshot's links to its blobs included); ranges are
 * checked against the file's real size before anything is mapped.
 */
final class ExternalDataFiles implements AutoCloseable {
    private final Path modelFile;
    private final Path realFolder;
    private final Map<Path, FileChannel> open = new LinkedHashMap<>();
    private final Map<Path, FileState> opened = new LinkedHashMap<>();

    ExternalDataFiles(Path modelFile) {
        this.modelFile = modelFile;
        Path folder = modelFile.toAbsolutePath().getParent();
        try {
            this.realFolder = folder.toRealPath();
        } catch (IOException e) {
            throw new GraftIoException(folder, "resolved (the folder of " + modelFile.getFileName() + ")", e);
        }
    }

    /** Resolves and checks a {@code location}; returns the real path of the data file. */
    synchronized Path resolve(String location, String tensor) {
        if (location == null || location.isEmpty()) {
            throw new ModelFormatException(modelFile, tensor, "external data without a 'location'");
        }
        String escape = InsideFolder.escape(location);
        if (escape != null) {
            throw new UnsafeExternalDataException(modelFile, tensor, "external data location '" + location + "' "
                    + escape + " (expected a path inside the model's folder)");
        }
        Path relative = Path.of(location);
        Path real;
        try {
            real = realFolder.resolve(relative).toRealPath();
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(modelFile, tensor,
                    "external data file '" + location + "' does not exist next to the model");
        } catch (IOException e) {
            throw new ModelFormatException(modelFile, tensor,
                    "external data file '" + location + "' cannot be opened: " + e.getMessage(), e);
        }
        if (!InsideFolder.contains(realFolder, real)) {
            throw new UnsafeExternalDataException(modelFile, tensor, "external data location '" + location
                    + "' leads outside the model's folder through a link (to " + real + ")");
        }
        return real;
    }

    /** Size in bytes of a resolved data file. */
    synchronized long size(Path real, String tensor) {
        try {
            return channel(real).size();
        } catch (IOException e) {
            throw new ModelFormatException(modelFile, tensor, "cannot read external data file " + real, e);
        }
    }

    /** Maps {@code length} bytes at {@code offset} of a resolved data file, read-only, little-endian. */
    ByteBuffer map(Path real, long offset, long length, String tensor) {
        if (length > Integer.MAX_VALUE) {
            throw new ModelFormatException(modelFile, tensor,
                    "tensor of " + length + " bytes is larger than 2 GiB, which Graft reads in one piece");
        }
        try {
            FileChannel ch;
            synchronized (this) {
                ch = channel(real);
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, offset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new ModelFormatException(modelFile, tensor, "cannot map external data in " + real, e);
        }
    }

    private FileChannel channel(Path real) throws IOException {
        FileChannel ch = open.get(real);
        if (ch == null) {
            ch = FileChannel.open(real, StandardOpenOption.READ);
            open.put(real, ch);
            opened.put(real, FileState.of(real));
        }
        return ch;
    }

    /** Checks each data file opened so far against its state when opened (see {@link OnnxModel#checkUnchanged}). */
    synchronized void checkUnchanged(Throwable cause) {
        for (FileState s : opened.values()) {
            s.check(cause);
        }
    }

    /** The data files opened so far, in first-use order. */
    synchronized Iterable<Path> files() {
        return new java.util.ArrayList<>(open.keySet());
    }

    @Override
    public synchronized void close() {
        for (FileChannel ch : open.values()) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // Closing a read-only channel cannot lose data.
            }
        }
        open.clear();
    }
}
