package dev.graft;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The Graft version, from the build. */
public final class GraftVersion {
    private static final String VERSION = load();

    private GraftVersion() {
    }

    public static String get() {
        return VERSION;
    }

    private static String load() {
        try (InputStream in = GraftVersion.class.getResourceAsStream("graft.properties")) {
            Properties p = new Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
