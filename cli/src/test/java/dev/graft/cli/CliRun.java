package dev.graft.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;

/** One run of the graft command in this JVM: its exit status and what it printed, for the CLI tests. */
record CliRun(int exit, String out, String err) {
    /** Runs {@code graft} with {@code args} (each turned into a string). */
    static CliRun graft(Object... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exit = Main.run(new PrintWriter(out, true), new PrintWriter(err, true),
                Arrays.stream(args).map(Object::toString).toArray(String[]::new));
        return new CliRun(exit, out.toString(), err.toString());
    }
}
