package dev.graft.exec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import dev.graft.GraftException;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Provenance;
import dev.graft.onnx.Weight;
import dev.graft.testing.TinyModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RewriterTest {
    @TempDir
    Path dir;

    /** A plan that doubles every float initializer of {@code model}, declaring {@code bytes} per job. */
    private static RewritePlan doubling(OnnxModel model, long bytes) {
        RewritePlan.Builder plan = RewritePlan.of("double", model.proto()).input(model).parameter("factor", "2");
        for (Weight w : model.initializers()) {
            if (w.type().isFloatingPoint()) {
                plan.compute(OutputTensor.like(w, w.type(), () -> {
                    float[] x = w.toFloats();
                    for (int i = 0; i < x.length; i++) {
                        x[i] *= 2;
                    }
                    return x;
                }), bytes);
            } else {
                plan.copy(w);
            }
        }
        return plan.build();
    }

    @Test
    void writesTheJobsWithProvenanceOfTheInputs() {
        Path in = TinyModels.save(TinyModels.mlp(3), dir.resolve("in.onnx"));
        Path out = dir.resolve("out.onnx");
        Rewriter.Result result;
        String sha;
        try (OnnxModel model = OnnxModel.open(in)) {
            sha = Provenance.Input.of(model).sha256();
            result = Rewriter.write(doubling(model, 64), out, Execution.defaults());
        }
        try (OnnxModel before = OnnxModel.open(in); OnnxModel after = OnnxModel.open(out)) {
            float[] w = before.weight("W1").orElseThrow().toFloats();
            float[] doubled = after.weight("W1").orElseThrow().toFloats();
            for (int i = 0; i < w.length; i++) {
                assertThat(doubled[i]).isEqualTo(2 * w[i]);
            }
            assertThat(after.weight("shape").orElseThrow().bytes()).isEqualTo(before.weight("shape").orElseThrow().bytes());
            Map<String, String> meta = after.proto().getMetadataPropsList().stream()
                    .collect(Collectors.toMap(StringStringEntryProto::getKey, StringStringEntryProto::getValue));
            assertThat(meta).containsEntry("graft.operation", "double");
            assertThat(meta.get("graft.parameters")).contains("\"factor\":\"2\"");
            assertThat(meta.get("graft.inputs")).contains(sha);
        }
        assertThat(result.provenance().inputs()).singleElement().satisfies(i -> assertThat(i.sha256()).isEqualTo(sha));
        assertThat(result.files().files()).containsExactly(out);
    }

    /**
     * An input another process changes while the plan reads it (weights come from a memory mapping of it): truncated
     * (reads past its new end fault), replaced by another file (the mapping keeps the old one), or rewritten in place.
     * Each time the write stops with an {@link InputChangedException} naming the file and the change, and leaves no
     * target and no temporary file.
     */
    @Test
    void anInputChangedWhileReadStopsTheWriteNamingIt() throws IOException {
        Path original = dev.graft.testing.RealModels.bgeSmall();
        String[] changes = {"truncated", "replaced", "rewritten"};
        for (String change : changes) {
            Path folder = Files.createDirectories(dir.resolve(change));
            Path in = Files.copy(original, folder.resolve("in.onnx"));
            Path out = folder.resolve("out.onnx");
            ProgressListener changer = (tensor, done, total) -> {
                if (done == 1) {
                    try {
                        switch (change) {
                            case "truncated" -> {
                                try (var ch = java.nio.channels.FileChannel.open(in,
                                        java.nio.file.StandardOpenOption.WRITE)) {
                                    ch.truncate(1 << 16);
                                }
                            }
                            case "replaced" -> Files.move(Files.copy(original, folder.resolve("new.onnx")), in,
                                    java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                            default -> {
                                try (var ch = java.nio.channels.FileChannel.open(in,
                                        java.nio.file.StandardOpenOption.WRITE)) {
                                    ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3}), Files.size(in) / 2);
                                }
                                Files.setLastModifiedTime(in, java.nio.file.attribute.FileTime.fromMillis(0));
                            }
                        }
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }
            };
            try (OnnxModel model = OnnxModel.open(in)) {
                assertThatThrownBy(() -> Rewriter.write(doubling(model, 1 << 20), out,
                        new Execution(1, 64 << 20, changer)))
                        .as(change).isInstanceOf(dev.graft.InputChangedException.class)
                        .hasMessageContaining(in.toString())
                        .hasMessageContaining(switch (change) {
                            case "truncated" -> "bytes when opened and is 65536 bytes now";
                            case "replaced" -> "another file was put in its place";
                            default -> "modified at";
                        });
            }
            try (Stream<Path> files = Files.list(folder)) {
                assertThat(files.map(f -> f.getFileName().toString())).as(change).containsOnly("in.onnx");
            }
        }
    }

    @Test
    void jobsInFlightNeverHoldMoreThanTheBudget() {
        Path in = TinyModels.save(TinyModels.mlp(4), dir.resolve("in.onnx"));
        long budget = 1 << 20;
        long perJob = 400 << 10; // two fit at once, three do not
        AtomicLong held = new AtomicLong();
        AtomicLong peak = new AtomicLong();
        try (OnnxModel model = OnnxModel.open(in)) {
            RewritePlan.Builder plan = RewritePlan.of("test", model.proto());
            for (Weight w : model.initializers()) {
                if (!w.type().isFloatingPoint()) {
                    plan.copy(w);
                    continue;
                }
                plan.compute(OutputTensor.like(w, w.type(), () -> {
                    peak.accumulateAndGet(held.addAndGet(perJob), Math::max);
                    Thread.sleep(20);
                    return w.toFloats();
                }).onWritten(() -> held.addAndGet(-perJob)), perJob);
            }
            Rewriter.write(plan.build(), dir.resolve("out.onnx"), new Execution(8, budget, ProgressListener.NONE));
        }
        assertThat(peak.get()).isLessThanOrEqualTo(budget).isGreaterThanOrEqualTo(perJob);
    }

    /**
     * A job that follows another waits on a thread of its own: with one worker, a follower waiting for a job after
     * it (which it never should, but could a worker's wait) does not keep that job from running.
     */
    @Test
    void followersWaitWithoutTakingAWorker() {
        Path in = TinyModels.save(TinyModels.mlp(11), dir.resolve("in.onnx"));
        java.util.concurrent.CountDownLatch later = new java.util.concurrent.CountDownLatch(1);
        try (OnnxModel model = OnnxModel.open(in)) {
            RewritePlan.Builder plan = RewritePlan.of("test", model.proto());
            int computed = 0;
            for (Weight w : model.initializers()) {
                if (!w.type().isFloatingPoint()) {
                    plan.copy(w);
                } else if (computed++ == 0) {
                    plan.add(TensorJob.following(OutputTensor.like(w, w.type(), () -> {
                        later.await();
                        return w.toFloats();
                    })));
                } else {
                    plan.compute(OutputTensor.like(w, w.type(), () -> {
                        later.countDown();
                        return w.toFloats();
                    }), 1 << 10);
                }
            }
            org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20),
                    () -> Rewriter.write(plan.build(), dir.resolve("out.onnx"),
                            new Execution(1, 1 << 20, ProgressListener.NONE)));
        }
        assertThat(dir.resolve("out.onnx")).exists();
    }

    /**
     * A streamed tensor writes a companion's entries along with its own (one computation for both, as a tied
     * table and its copy): on one worker, with the companion before its leader in the output, both are written;
     * when the leader fails partway, the companion's job fails with the leader's error, nothing waits for ever, and
     * no file is left.
     */
    @Test
    void aCompanionIsWrittenByItsLeadersSlicesAndFailsWithIt() throws Exception {
        Path in = TinyModels.save(TinyModels.mlp(12), dir.resolve("in.onnx"));
        for (boolean fail : new boolean[] {false, true}) {
            Path folder = Files.createDirectories(dir.resolve("out-" + fail));
            try (OnnxModel model = OnnxModel.open(in)) {
                Weight w1 = model.weight("W1").orElseThrow(); // 32 entries, before W2 in the output
                Weight w2 = model.weight("W2").orElseThrow(); // 24 entries
                float[] a = w1.toFloats();
                float[] b = w2.toFloats();
                OutputTensor leader = OutputTensor.streamed(w2, w2.type(), sink -> {
                    for (int first = 0; first < 24; first += 8) {
                        sink.accept(first, b, first, 8);
                        if (fail && first == 8) {
                            throw new GraftException(in, "W2", "bad values");
                        }
                    }
                    float[] tripled = new float[a.length];
                    for (int i = 0; i < a.length; i++) {
                        tripled[i] = 3 * a[i];
                    }
                    sink.companion("W1").accept(0, tripled, 0, 16);
                    sink.companion("W1").accept(16, tripled, 16, 16);
                });
                RewritePlan.Builder plan = RewritePlan.of("test", model.proto());
                for (Weight w : model.initializers()) {
                    if (w == w1) {
                        plan.add(TensorJob.following(OutputTensor.companionOf(leader, w1, w1.type())));
                    } else if (w == w2) {
                        plan.add(new TensorJob(leader, 1 << 10));
                    } else {
                        plan.copy(w);
                    }
                }
                Path out = folder.resolve("m.onnx");
                org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () -> {
                    if (fail) {
                        assertThatThrownBy(() -> Rewriter.write(plan.build(), out, new Execution(1, 1 << 20,
                                ProgressListener.NONE))).isInstanceOf(GraftException.class)
                                .hasMessageContaining("bad values");
                    } else {
                        Rewriter.write(plan.build(), out, new Execution(1, 1 << 20, ProgressListener.NONE));
                    }
                });
                if (fail) {
                    try (Stream<Path> left = Files.list(folder)) {
                        assertThat(left).isEmpty();
                    }
                    continue;
                }
                try (OnnxModel written = OnnxModel.open(out)) {
                    assertThat(written.weight("W2").orElseThrow().toFloats()).containsExactly(b);
                    float[] w1Written = written.weight("W1").orElseThrow().toFloats();
                    for (int i = 0; i < a.length; i++) {
                        assertThat(w1Written[i]).isEqualTo(3 * a[i]);
                    }
                }
                // gathered in memory, the companion's values come from its leader's computation too
                assertThat(OutputTensor.companionOf(leader, w1, w1.type()).computeCopy()[5]).isEqualTo(3 * a[5]);
            }
        }
    }

    @Test
    void aFailedCheckRemovesTheFilesAndNamesTheTarget() {
        Path in = TinyModels.save(TinyModels.mlp(5), dir.resolve("in.onnx"));
        Path out = dir.resolve("out.onnx");
        try (OnnxModel model = OnnxModel.open(in)) {
            RewritePlan plan = RewritePlan.of("test", model.proto()).copy(model.initializers().get(0))
                    .copy(model.initializers().get(1)).copy(model.initializers().get(2))
                    .copy(model.initializers().get(3)).copy(model.initializers().get(4))
                    .check(written -> {
                        assertThat(written).exists();
                        throw new IllegalStateException("widths differ");
                    }).build();
            assertThatThrownBy(() -> Rewriter.write(plan, out, Execution.defaults()))
                    .isInstanceOf(GraftException.class).hasMessageContaining(out.toString())
                    .hasMessageContaining("widths differ");
        }
        assertThat(out).doesNotExist();
    }

    @Test
    void aFailingJobLeavesNoFileBehind() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(6), dir.resolve("in.onnx"));
        Path folder = Files.createDirectories(dir.resolve("out"));
        try (OnnxModel model = OnnxModel.open(in)) {
            RewritePlan.Builder plan = RewritePlan.of("test", model.proto());
            for (Weight w : model.initializers()) {
                if (w.type().isFloatingPoint()) {
                    plan.compute(OutputTensor.like(w, w.type(), () -> {
                        throw new GraftException(in, w.name(), "bad values");
                    }), 16);
                } else {
                    plan.copy(w);
                }
            }
            assertThatThrownBy(() -> Rewriter.write(plan.build(), folder.resolve("m.onnx"), Execution.defaults()))
                    .isInstanceOf(GraftException.class).hasMessageContaining("bad values");
        }
        try (Stream<Path> left = Files.list(folder)) {
            assertThat(left).isEmpty();
        }
    }

    @Test
    void aMissingOutputFolderIsCreated() {
        Path in = TinyModels.save(TinyModels.mlp(7), dir.resolve("in.onnx"));
        Path out = dir.resolve("new/deeper/out.onnx");
        try (OnnxModel model = OnnxModel.open(in)) {
            Rewriter.write(doubling(model, 64), out, Execution.defaults());
        }
        assertThat(out).isRegularFile();
    }

    @Test
    void aFileWhereTheFolderShouldBeIsAnIoError() throws IOException {
        Path in = TinyModels.save(TinyModels.mlp(8), dir.resolve("in.onnx"));
        Path blocker = Files.writeString(dir.resolve("blocker"), "x");
        try (OnnxModel model = OnnxModel.open(in)) {
            assertThatThrownBy(() -> Rewriter.write(doubling(model, 64), blocker.resolve("out.onnx"),
                    Execution.defaults())).isInstanceOf(dev.graft.GraftIoException.class)
                    .hasMessageContaining("cannot be written");
        }
    }

    @Test
    void impossibleThreadCountsAndBudgetsAreTypedErrors() {
        Path in = TinyModels.save(TinyModels.mlp(9), dir.resolve("in.onnx"));
        assertThatThrownBy(() -> dev.graft.Graft.convert(in).threads(0))
                .isInstanceOf(dev.graft.InvalidSettingException.class).hasMessageContaining("threads must be at least 1");
        assertThatThrownBy(() -> Execution.defaults().withMemoryBudget(0))
                .isInstanceOf(dev.graft.InvalidSettingException.class).hasMessageContaining("memory budget");
        String before = System.getProperty("graft.threads");
        System.setProperty("graft.threads", "many");
        try {
            assertThatThrownBy(Threads::workers).isInstanceOf(dev.graft.InvalidSettingException.class)
                    .hasMessageContaining("graft.threads").hasMessageContaining("'many'");
        } finally {
            if (before == null) {
                System.clearProperty("graft.threads");
            } else {
                System.setProperty("graft.threads", before);
            }
        }
    }

    /** {@code -Dgraft.memory} sets the default budget, with a size suffix; a value that is no size is refused. */
    @Test
    void theDefaultBudgetComesFromGraftMemory() {
        String before = System.getProperty("graft.memory");
        try {
            System.setProperty("graft.memory", "256m");
            assertThat(Execution.defaultBudget()).isEqualTo(256L << 20);
            System.setProperty("graft.memory", "3G");
            assertThat(Execution.defaults().memoryBudget()).isEqualTo(3L << 30);
            System.setProperty("graft.memory", "4096");
            assertThat(Execution.defaultBudget()).isEqualTo(4096);
            for (String bad : new String[] {"lots", "-1m", "0"}) {
                System.setProperty("graft.memory", bad);
                assertThatThrownBy(Execution::defaultBudget).as(bad)
                        .isInstanceOf(dev.graft.InvalidSettingException.class).hasMessageContaining("graft.memory").hasMessageContaining("'" + bad + "'");
            }
            System.clearProperty("graft.memory");
            assertThat(Execution.defaultBudget()).isEqualTo(Math.min(1L << 30, Runtime.getRuntime().maxMemory() / 4));
        } finally {
            if (before == null) {
                System.clearProperty("graft.memory");
            } else {
                System.setProperty("graft.memory", before);
            }
        }
    }
}
