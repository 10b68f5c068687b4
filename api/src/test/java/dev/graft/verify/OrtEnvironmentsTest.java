package dev.graft.verify;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * ONNX Runtime loads in a JVM started with a long command line (a class path of many jars, as spark-submit writes):
 * loaded on the main thread's default stack, ONNX Runtime 1.29 overflowed it and the JVM died with SIGSEGV.
 */
class OrtEnvironmentsTest {
    /** Loads ONNX Runtime through {@link OrtEnvironments} and runs a model: the child JVM of the test. */
    public static void main(String[] args) throws Exception {
        try (ModelRunner r = new ModelRunner(Path.of(args[0]), 1)) {
            System.out.println("outputs " + r.outputNames());
        }
    }

    @Test
    void onnxRuntimeLoadsUnderALongCommandLine() throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String padding = "-Dgraft.padding=" + "x".repeat(8000); // the length of a class path of ~100 jars
        Process p = new ProcessBuilder(List.of(java, padding, "-cp", System.getProperty("java.class.path"),
                OrtEnvironmentsTest.class.getName(), Path.of("../examples/recipes/digits/base.onnx").toString()))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("outputs [");
    }
}
