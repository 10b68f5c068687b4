package dev.graft.bench;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.graft.adapters.RecursiveModel;
import dev.graft.data.Calibration;
import dev.graft.onnx.OnnxWriter;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.WriteOptions;
import dev.graft.pleas.Pleas;
import dev.graft.tensor.ElementType;
import dev.graft.verify.ModelRunner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Peak resident memory (VmHWM, read from /proc in a child JVM) of what a user runs, and its anonymous part (the
 * process's own memory, without the pages of memory-mapped model files). The child may use 3 GiB of
 * heap but keeps it close to what is live (serial collector, heap free ratios 5–10%), so the peak follows what
 * the work needs rather than how lazily the collector runs. The work: PLeaS of bge-small
 * and e5-small at 1.0× on 256 sentences; PLeaS of two synthetic ReLU MLPs (width 1024) 8 and 16 layers deep; a
 * weight-only recursive conversion of bge-small (6 blocks, rank 64) and of a stack of 8 and 16 square layers
 * (width 2048, two layers per block). Whether peak memory grows with depth is the question: the deep model's peak
 * over the shallow one's, under the default memory budget (a quarter of the heap, 768 MiB) and, for PLeaS, under
 * {@code -Dgraft.memory=256m}.
 */
final class MemoryBenchmarks {
    private static final int WIDTH = 1024;
    private static final int INPUTS = 256;
    private static final int STACK_WIDTH = 2048;

    private MemoryBenchmarks() {
    }

    /** PLeaS (of bge and e5, and of MLP pairs) when {@code pleas}; recursive conversions when {@code recursive}. */
    static void run(Path models, Path text, Path work, boolean pleas, boolean recursive) throws Exception {
        System.out.println("memory: peak RSS of a child JVM (-Xmx3g, serial GC, heap kept near live data)");
        Path bge = models.resolve("bge-small-en-v1.5.onnx");
        int[] depths = {8, 16};
        if (pleas) {
            if (Files.exists(bge)) {
                Peak p = child(work, null, "pleas-text", bge.toString(), models.resolve("e5-small-v2.onnx").toString(),
                        models.resolve("bge-small-en-v1.5-tokenizer.json").toString(), text.toString());
                System.out.printf(Locale.ROOT, "  PLeaS bge + e5, 1.0x, 256 sentences     %s%n", p.mb());
            }
            String[] budgets = {null, "256m"};
            Peak[][] peaks = new Peak[budgets.length][depths.length];
            for (int i = 0; i < depths.length; i++) {
                Path a = work.resolve("mlp" + depths[i] + "a.onnx");
                Path b = work.resolve("mlp" + depths[i] + "b.onnx");
                writeMlp(a, depths[i], 1);
                writeMlp(b, depths[i], 2);
                for (int k = 0; k < budgets.length; k++) {
                    peaks[k][i] = child(work, budgets[k], "pleas-mlp", a.toString(), b.toString());
                    System.out.printf(Locale.ROOT, "  PLeaS MLP pair, %2d layers of %d, budget %-8s %s, models %d MB "
                            + "each%n", depths[i], WIDTH, budgets[k] == null ? "default" : budgets[k],
                            peaks[k][i].mb(), Files.size(a) >> 20);
                }
                Files.deleteIfExists(a);
                Files.deleteIfExists(b);
            }
            for (int k = 0; k < budgets.length; k++) {
                System.out.printf(Locale.ROOT, "  twice as deep, budget %-8s %.2f x the peak (anonymous %.2f x)%n",
                        budgets[k] == null ? "default" : budgets[k],
                        (double) peaks[k][1].total() / peaks[k][0].total(),
                        (double) peaks[k][1].anonymous() / peaks[k][0].anonymous());
            }
        }
        if (recursive) {
            if (Files.exists(bge)) {
                Peak r = child(work, null, "recursive", bge.toString());
                System.out.printf(Locale.ROOT, "  recursive bge, 6 blocks, rank 64         %s%n", r.mb());
            }
            Peak[] stacks = new Peak[depths.length];
            for (int i = 0; i < depths.length; i++) {
                Path stack = work.resolve("stack" + depths[i] + ".onnx");
                writeStack(stack, depths[i]);
                stacks[i] = child(work, null, "recursive-stack", stack.toString(), Integer.toString(depths[i] / 2));
                System.out.printf(Locale.ROOT, "  recursive stack, %2d layers of %d², pairs, rank 64 %s, model %d "
                        + "MB%n", depths[i], STACK_WIDTH, stacks[i].mb(), Files.size(stack) >> 20);
                Files.deleteIfExists(stack);
            }
            System.out.printf(Locale.ROOT, "  recursive, twice as deep: %.2f x the peak (anonymous %.2f x)%n",
                    (double) stacks[1].total() / stacks[0].total(),
                    (double) stacks[1].anonymous() / stacks[0].anonymous());
        }
    }

    /**
     * A child's peak resident memory: in all (VmHWM) and its anonymous part (RssAnon sampled every 20 ms: memory
     * the process owns, without the pages of mapped model files, which the kernel can drop and read again).
     */
    private record Peak(long total, long anonymous) {
        String mb() {
            return String.format(Locale.ROOT, "%5d MB (anonymous %4d MB)", total >> 20, anonymous >> 20);
        }
    }

    /** Runs one task in a child JVM; returns its peaks. */
    private static Peak child(Path work, String budget, String... task) throws Exception {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx3g", "-XX:+UseSerialGC", "-XX:MinHeapFreeRatio=5", "-XX:MaxHeapFreeRatio=10"));
        if (budget != null) {
            command.add("-Dgraft.memory=" + budget);
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), MemoryBenchmarks.class.getName(),
                work.toString()));
        command.addAll(List.of(task));
        String output = Benchmarks.runChild(command);
        return new Peak(Benchmarks.kilobytes(output, "VmHWM:") << 10,
                Benchmarks.kilobytes(output, "RssAnonPeak:") << 10);
    }

    /** The child: {@code WORK TASK ARGS...}. */
    public static void main(String[] args) throws Exception {
        AtomicLong anonymous = new AtomicLong();
        Thread sampler = new Thread(() -> {
            while (true) {
                anonymous.accumulateAndGet(rssAnon(), Math::max);
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        Path work = Path.of(args[0]);
        Path out = work.resolve("memory-out.onnx");
        switch (args[1]) {
            case "pleas-text" -> Pleas.merge(Path.of(args[2]), Path.of(args[3]))
                    .calibration(Calibration.text(Path.of(args[5]), Path.of(args[4]), 256, 128)).width(1.0).writeTo(out);
            case "recursive" -> RecursiveModel.of(Path.of(args[2])).blocks(6).rank(64).writeTo(out);
            case "recursive-stack" -> RecursiveModel.of(Path.of(args[2])).blocks(Integer.parseInt(args[3])).rank(64)
                    .writeTo(out);
            case "pleas-mlp" -> Pleas.merge(Path.of(args[2]), Path.of(args[3])).calibration(randomInputs())
                    .width(1.0).writeTo(out);
            default -> throw new IllegalArgumentException(args[1]);
        }
        Files.deleteIfExists(out);
        sampler.interrupt();
        System.out.println("RssAnonPeak: " + Math.max(anonymous.get(), rssAnon()) + " kB");
        Benchmarks.printPeakRss();
    }

    /** This process's anonymous resident memory now, in kB (0 if /proc cannot be read). */
    private static long rssAnon() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("RssAnon:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (java.io.IOException e) {
            return 0;
        }
        return 0;
    }

    private static Calibration randomInputs() {
        SplittableRandom r = new SplittableRandom(7);
        List<Map<String, ModelRunner.Input>> batches = new ArrayList<>();
        for (int b = 0; b < 8; b++) {
            float[] x = new float[128 * INPUTS];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            batches.add(Map.of("x", ModelRunner.Input.of(x, 128, INPUTS)));
        }
        return Calibration.of("random", batches);
    }

    /** x[N, 256] → (MatMul, Add, Relu) × depth at width 1024 → MatMul to 16 outputs. */
    private static void writeMlp(Path file, int depth, long seed) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("mlp").addInput(input("x", INPUTS));
        List<OutputTensor> tensors = new ArrayList<>();
        String value = "x";
        int in = INPUTS;
        for (int l = 0; l <= depth; l++) {
            int out = l == depth ? 16 : WIDTH;
            String name = "/layers." + l + "/fc";
            tensors.add(tensor("layers." + l + ".weight", new long[] {in, out}, seed * 1000 + 2L * l));
            tensors.add(tensor("layers." + l + ".bias", new long[] {out}, seed * 1000 + 2L * l + 1));
            g.addNode(node("MatMul", name + "/MatMul", List.of(value, "layers." + l + ".weight"), name + "/mm"));
            g.addNode(node("Add", name + "/Add", List.of(name + "/mm", "layers." + l + ".bias"), name + "/add"));
            value = name + "/add";
            if (l < depth) {
                g.addNode(node("Relu", "/layers." + l + "/act/Relu", List.of(value), "/layers." + l + "/relu"));
                value = "/layers." + l + "/relu";
            }
            in = out;
        }
        g.addNode(node("Identity", "/out", List.of(value), "y"));
        g.addOutput(input("y", 16));
        ModelProto template = ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-bench")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(g).build();
        OnnxWriter.write(template, tensors, file, WriteOptions.defaults().withSync(false));
    }

    /** x[N, 2048] → MatMul × layers at width 2048, named {@code layers.L.fc}: a stack to tie into blocks. */
    private static void writeStack(Path file, int layers) {
        GraphProto.Builder g = GraphProto.newBuilder().setName("stack").addInput(input("x", STACK_WIDTH));
        List<OutputTensor> tensors = new ArrayList<>();
        String value = "x";
        for (int l = 0; l < layers; l++) {
            String name = "/layers." + l + "/fc";
            tensors.add(tensor("layers." + l + ".fc.weight", new long[] {STACK_WIDTH, STACK_WIDTH}, 5000 + l));
            g.addNode(node("MatMul", name + "/MatMul", List.of(value, "layers." + l + ".fc.weight"), name + "/mm"));
            value = name + "/mm";
        }
        g.addNode(node("Identity", "/out", List.of(value), "y"));
        g.addOutput(input("y", STACK_WIDTH));
        ModelProto template = ModelProto.newBuilder().setIrVersion(8).setProducerName("graft-bench")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(g).build();
        OnnxWriter.write(template, tensors, file, WriteOptions.defaults().withSync(false));
    }

    private static OutputTensor tensor(String name, long[] shape, long seed) {
        int n = (int) (shape.length == 1 ? shape[0] : shape[0] * shape[1]);
        double scale = Math.sqrt(2.0 / shape[0]);
        return OutputTensor.of(name, ElementType.FLOAT, shape, () -> {
            SplittableRandom r = new SplittableRandom(seed);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) (r.nextGaussian() * scale);
            }
            return v;
        });
    }

    private static NodeProto node(String op, String name, List<String> inputs, String output) {
        return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output).build();
    }

    private static ValueInfoProto input(String name, long width) {
        TensorShapeProto shape = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("N"))
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(width)).build();
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(shape))).build();
    }
}
