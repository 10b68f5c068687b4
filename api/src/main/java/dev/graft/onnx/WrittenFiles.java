package dev.graft.onnx;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The files a write produced (the model, then its data file if any) and their total size. */
public record WrittenFiles(List<Path> files, long bytes) {
    static WrittenFiles of(List<Path> files) {
        long total = 0;
        for (Path p : files) {
            try {
                total += Files.size(p);
            } catch (IOException e) {
                throw new GraftIoException(p, "measured after writing", e);
            }
        }
        return new WrittenFiles(List.copyOf(files), total);
    }

    /** The file paths as strings, for reports. */
    public List<String> names() {
        return files.stream().map(Path::toString).toList();
    }
}
