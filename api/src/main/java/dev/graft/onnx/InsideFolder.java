package dev.graft.onnx;

import dev.graft.UnsafePathException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Where files that come with an input may be read from: inside the input's folder, with every symbolic link followed.
 * A Hugging Face cache snapshot ({@code …/models--org--name/snapshots/REVISION/}) holds links to its repository's
 * {@code blobs/} folder: those count as inside. Used for external data, checkpoint shards, adapter folders and the
 * companion files copied beside a written model.
 */
public final class InsideFolder {
    private InsideFolder() {
    }

    /**
     * The real path of {@code name} in {@code folder}, checked to be inside it.
     *
     * @param namedBy the file that names it (for the message; the folder itself for fixed names)
     * @return the real path, or null if there is no such file
     * @throws UnsafePathException if {@code name} is absolute, has a {@code ..} component, or leads out through a link
     */
    public static Path resolve(Path folder, String name, Path namedBy) {
        String escape = escape(name);
        if (escape != null) {
            throw new UnsafePathException(namedBy, null, "names '" + name + "', which " + escape + " (expected a file "
                    + "in " + folder + ")");
        }
        Path relative = Path.of(name);
        Path real;
        Path realFolder;
        try {
            realFolder = folder.toRealPath();
            real = folder.resolve(relative).toRealPath();
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new dev.graft.GraftIoException(folder.resolve(relative), "resolved", e);
        }
        if (!contains(realFolder, real)) {
            throw new UnsafePathException(namedBy, null, "'" + name + "' leads outside " + folder
                    + " through a link (to " + real + ")");
        }
        return real;
    }

    /**
     * Why {@code name} would leave its folder before any link is followed ("is absolute", "contains '..'", "contains a
     * NUL character"), or null if it would not.
     */
    static String escape(String name) {
        if (name.indexOf('\0') >= 0) {
            return "contains a NUL character";
        }
        if (name.startsWith("/") || name.startsWith("\\") || name.matches("^[A-Za-z]:.*") || Path.of(name).isAbsolute()) {
            return "is absolute";
        }
        for (Path part : Path.of(name)) {
            String p = part.toString();
            if (p.equals("..") || p.contains("\\..") || p.contains("..\\")) {
                return "contains '..'";
            }
        }
        return null;
    }

    /**
     * Whether {@code real} (a real path) is inside {@code realFolder} (a real folder), or is a blob of the Hugging Face
     * cache repository of which {@code realFolder} is (in) a snapshot.
     */
    static boolean contains(Path realFolder, Path real) {
        if (real.startsWith(realFolder)) {
            return true;
        }
        for (Path p = realFolder; p != null && p.getParent() != null; p = p.getParent()) {
            Path snapshots = p.getParent();
            if (snapshots.getFileName() != null && snapshots.getFileName().toString().equals("snapshots")
                    && snapshots.getParent() != null) {
                Path blobs = snapshots.getParent().resolve("blobs");
                return Files.isDirectory(blobs) && blobs.equals(real.getParent());
            }
        }
        return false;
    }
}
