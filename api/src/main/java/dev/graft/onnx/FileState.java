package dev.graft.onnx;

import dev.graft.InputChangedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;

/**
 * What a file was when Graft opened it: its size, modification time and identity (device and inode where the file
 * system has them). A later {@link #check} tells whether another process has since truncated, rewritten or replaced it.
 */
record FileState(Path file, long size, FileTime modified, Object key) {
    /** The state of {@code file} now; an unreadable one is taken as size −1 (so any later check tells the change). */
    static FileState of(Path file) {
        try {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new FileState(file, a.size(), a.lastModifiedTime(), a.fileKey());
        } catch (IOException e) {
            return new FileState(file, -1, null, null);
        }
    }

    /**
     * Throws if the file is not what it was.
     *
     * @throws InputChangedException naming the file and what changed
     */
    void check(Throwable cause) {
        String change = changeSince();
        if (change != null) {
            throw new InputChangedException(file, change, cause);
        }
    }

    /** What changed since this state was taken, or null if nothing did. */
    String changeSince() {
        BasicFileAttributes now;
        try {
            now = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return "it was removed";
        } catch (IOException e) {
            return "it can no longer be read: " + e.getMessage();
        }
        if (!Objects.equals(now.fileKey(), key)) {
            return "another file was put in its place";
        }
        if (now.size() != size) {
            return "it was " + size + " bytes when opened and is " + now.size() + " bytes now";
        }
        if (!now.lastModifiedTime().equals(modified)) {
            return "it was modified at " + now.lastModifiedTime() + ", after it was opened";
        }
        return null;
    }
}
