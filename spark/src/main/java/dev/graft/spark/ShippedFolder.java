package dev.graft.spark;

import dev.graft.GraftIoException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A folder zipped for {@code SparkContext.addArchive}: every regular file under it, by its path relative to the
 * folder, in a new temporary folder as {@code NAME.zip} (removed when the JVM exits), which Spark unpacks on each
 * executor into a folder of that name.
 */
final class ShippedFolder {
    private ShippedFolder() {
    }

    /** The archive's file name for {@code folder}: {@code NAME.zip}. */
    static String archiveName(Path folder) {
        return folder.getFileName() + ".zip";
    }

    /** Zips {@code folder} and returns the archive. */
    static Path zip(Path folder) {
        try {
            Path dir = Files.createTempDirectory("graft-ship-");
            Path zip = dir.resolve(archiveName(folder));
            List<Path> files;
            try (Stream<Path> walk = Files.walk(folder)) {
                files = walk.filter(Files::isRegularFile).sorted().toList();
            }
            try (OutputStream out = Files.newOutputStream(zip); ZipOutputStream z = new ZipOutputStream(out)) {
                for (Path f : files) {
                    z.putNextEntry(new ZipEntry(folder.relativize(f).toString().replace('\\', '/')));
                    Files.copy(f, z);
                    z.closeEntry();
                }
            }
            zip.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return zip;
        } catch (IOException e) {
            throw new GraftIoException(folder, "zipped to ship to the executors", e);
        }
    }
}
