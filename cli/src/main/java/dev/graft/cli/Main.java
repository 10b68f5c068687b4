package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.GraftVersion;
import dev.graft.search.CoefficientSearch;
import dev.graft.search.SearchProblem;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code graft} command. Exit status 0 on success, 1 when the work failed (with a one-line error on
 * standard error), 2 for a command line that does not parse.
 */
@Command(name = "graft", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Merge ONNX models and compose adapters.")
public final class Main {
    /**
     * The subcommands, in the order help lists them. A command line that names one gets only that one (picocli reads
     * each command's annotations when it is added: about 0.1 s for all of them, in a process that runs one).
     */
    private static final Map<String, Class<?>> COMMANDS = commands(InspectCommand.class, VerifyCommand.class,
            ConvertCommand.class, ImportCommand.class, MergeCommand.class, AlignCommand.class, PleasCommand.class,
            FuseCommand.class, MoeCommand.class, LoraCommand.class, ShareCommand.class, RecursiveCommand.class,
            EvalCommand.class, SearchCommand.class, DemoCommand.class);

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the command line with the given streams and returns the exit status (for tests and embedding). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new Main());
        Class<?> named = args.length > 0 ? COMMANDS.get(args[0]) : null;
        for (Map.Entry<String, Class<?>> c : COMMANDS.entrySet()) {
            if (named == null || c.getValue() == named) {
                cl.addSubcommand(c.getKey(), c.getValue());
            }
        }
        cl.addSubcommand("help", new CommandLine.HelpCommand());
        return execute(cl, out, err, args);
    }

    private static Map<String, Class<?>> commands(Class<?>... classes) {
        Map<String, Class<?>> byName = new LinkedHashMap<>();
        for (Class<?> c : classes) {
            byName.put(c.getAnnotation(Command.class).name(), c);
        }
        return byName;
    }

    /**
     * Runs {@code graft search ARGS} (the arguments after {@code search}) with each problem's candidates scored by
     * {@code engine} (graft-spark's Spark tasks) instead of local threads.
     */
    public static int search(Function<SearchProblem, CoefficientSearch.Engine> engine, PrintWriter out,
                             PrintWriter err, String... args) {
        return execute(new CommandLine(new SearchCommand(engine)), out, err, args);
    }

    private static int execute(CommandLine cl, PrintWriter out, PrintWriter err, String... args) {
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            Throwable t = e;
            if (t instanceof java.io.UncheckedIOException && t.getCause() != null) {
                t = t.getCause();
            }
            String message = t instanceof GraftException || t instanceof IllegalArgumentException
                    || t instanceof IllegalStateException ? t.getMessage() : t.toString();
            err.println("graft: error: " + message.replace('\n', ' '));
            if (System.getenv("GRAFT_DEBUG") != null) {
                t.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        java.util.logging.Logger log = java.util.logging.Logger.getLogger("dev.graft");
        WarningsTo warnings = new WarningsTo(err);
        log.addHandler(warnings);
        log.setUseParentHandlers(false);
        try {
            return cl.execute(args);
        } catch (InternalError e) { // the JVM's report of a fault reading a memory mapping: a file shrank under it
            err.println("graft: error: a file Graft was reading changed while it was read (" + e.getMessage()
                    + "); nothing was written: run again once the inputs are complete and left alone");
            err.flush();
            return 1;
        } finally {
            log.removeHandler(warnings);
            log.setUseParentHandlers(true);
        }
    }

    /** Prints the library's warnings ({@link System.Logger} {@code dev.graft}) as {@code graft: warning: ...}. */
    private static final class WarningsTo extends java.util.logging.Handler {
        private final PrintWriter err;

        WarningsTo(PrintWriter err) {
            this.err = err;
            setLevel(java.util.logging.Level.WARNING);
        }

        @Override
        public void publish(java.util.logging.LogRecord r) {
            if (isLoggable(r)) {
                err.println("graft: warning: " + r.getMessage());
                err.flush();
            }
        }

        @Override
        public void flush() {
            err.flush();
        }

        @Override
        public void close() {
            // the stream belongs to the caller
        }
    }

    /** Reports the version from the build. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"graft " + GraftVersion.get()};
        }
    }
}
