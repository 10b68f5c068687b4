package dev.graft.eval;

import dev.graft.IncompatibleModelsException;
import dev.graft.InvalidSettingException;
import dev.graft.exec.Threads;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.Weight;
import dev.graft.plan.MergedWeights;
import dev.graft.tensor.ElementType;
import dev.graft.verify.DecoderInputs;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A model to evaluate: a model file as it is; a model file with some weights replaced in memory (a merge
 * candidate, evaluated without writing a file: ONNX Runtime is given the new weights in place of the file's);
 * or the averaged-output ensemble of several model files (every float output averaged over the members, the
 * upper reference a merge is compared with). Evaluating never rewrites a model.
 */
public final class Candidate {
    private final String name;
    private final List<Path> files;
    private final Map<String, ModelRunner.Input> weights;

    private Candidate(String name, List<Path> files, Map<String, ModelRunner.Input> weights) {
        this.name = name;
        this.files = List.copyOf(files);
        this.weights = weights;
    }

    /** The model in {@code file}, named by its file name without {@code .onnx}. */
    public static Candidate of(Path file) {
        return of(nameOf(file), file);
    }

    /** The model in {@code file}, named {@code name} in reports. */
    public static Candidate of(String name, Path file) {
        return new Candidate(name, List.of(file), Map.of());
    }

    /**
     * The model of {@code template} with {@code weights} in place of its initializers of the same names (row-major
     * float32 values of the same shapes).
     *
     * @throws IncompatibleModelsException if {@code template} has no float32 initializer of that name and shape
     */
    public static Candidate inMemory(String name, Path template, Map<String, ModelRunner.Input> weights) {
        try (OnnxModel model = OnnxModel.open(template)) {
            for (Map.Entry<String, ModelRunner.Input> w : weights.entrySet()) {
                Weight stored = model.weight(w.getKey()).orElse(null);
                if (stored == null || stored.type() != ElementType.FLOAT
                        || w.getValue().type() != ElementType.FLOAT
                        || !Arrays.equals(stored.shape(), w.getValue().shape())) {
                    throw new IncompatibleModelsException(template, w.getKey(), "a weight given in memory must "
                            + "replace a float32 initializer of the same shape; the model has "
                            + (stored == null ? "no such initializer" : stored.type().displayName() + " "
                            + Arrays.toString(stored.shape())) + ", the candidate gives "
                            + w.getValue().type().displayName() + " " + Arrays.toString(w.getValue().shape()));
                }
            }
        }
        return new Candidate(name, List.of(template), new LinkedHashMap<>(weights));
    }

    /**
     * A merge computed in memory ({@code MergeBuilder.inMemory()}): its template with the merged values in place.
     *
     * @throws IncompatibleModelsException if the template does not store a merged tensor as float32
     */
    public static Candidate merged(String name, MergedWeights merge) {
        Map<String, ModelRunner.Input> weights = new LinkedHashMap<>();
        try (OnnxModel model = OnnxModel.open(merge.template())) {
            for (Map.Entry<String, float[]> w : merge.weights().entrySet()) {
                long[] shape = model.weight(w.getKey()).map(Weight::shape).orElse(new long[] {w.getValue().length});
                weights.put(w.getKey(), ModelRunner.Input.of(w.getValue(), shape));
            }
        }
        return inMemory(name, merge.template(), weights);
    }

    /** The averaged-output ensemble of {@code files} (each model run, its float outputs averaged). */
    public static Candidate ensemble(String name, List<Path> files) {
        if (files.isEmpty()) {
            throw new InvalidSettingException("ensemble '" + name + "' has no models");
        }
        return new Candidate(name, files, Map.of());
    }

    /** The name in reports. */
    public String name() {
        return name;
    }

    /** The model file (an ensemble's first), for messages. */
    public Path file() {
        return files.get(0);
    }

    /** Whether this is the file {@code file} as it is. */
    boolean isFile(Path file) {
        return files.size() == 1 && weights.isEmpty()
                && files.get(0).toAbsolutePath().normalize().equals(file.toAbsolutePath().normalize());
    }

    /** Opens ONNX Runtime sessions on the candidate; close the result. */
    public Session open() {
        List<ModelRunner> runners = new ArrayList<>();
        List<DecoderInputs> decoderInputs = new ArrayList<>();
        try {
            for (Path f : files) {
                try (OnnxModel m = OnnxModel.open(f)) {
                    decoderInputs.add(DecoderInputs.of(m));
                }
                runners.add(new ModelRunner(f, Threads.modelRuns(), weights));
            }
        } catch (RuntimeException e) {
            runners.forEach(ModelRunner::close);
            throw e;
        }
        return new Session(runners, decoderInputs, null, true);
    }

    static String nameOf(Path file) {
        String n = file.getFileName().toString();
        return n.endsWith(".onnx") ? n.substring(0, n.length() - 5) : n;
    }

    /**
     * Open sessions on a candidate: runs it as one model, a decoder's other inputs (position ids, an empty cache)
     * made to agree with the tokens ({@link DecoderInputs}).
     */
    public final class Session implements AutoCloseable {
        private final List<ModelRunner> runners;
        private final List<DecoderInputs> decoderInputs;
        private final ModelRunner.Kept kept;
        private final boolean owner;

        private Session(List<ModelRunner> runners, List<DecoderInputs> decoderInputs, ModelRunner.Kept kept,
                        boolean owner) {
            this.runners = runners;
            this.decoderInputs = decoderInputs;
            this.kept = kept;
            this.owner = owner;
        }

        /**
         * These sessions with the outputs {@code kept} of another run given to every run besides the data (a searched
         * candidate's weights): a view, whose closing closes {@code kept} and not the sessions.
         */
        public Session withKept(ModelRunner.Kept kept) {
            return new Session(runners, decoderInputs, kept, false);
        }

        /** The candidate being run. */
        public Candidate candidate() {
            return Candidate.this;
        }

        /** The (first member's) input names. */
        public List<String> inputNames() {
            return runners.get(0).inputNames();
        }

        /** The (first member's) output names. */
        public List<String> outputNames() {
            return runners.get(0).outputNames();
        }

        /** Output {@code output} on {@code inputs}; for an ensemble, the members' outputs averaged. */
        public ModelRunner.Output run(Map<String, ModelRunner.Input> inputs, String output) {
            ModelRunner.Output sum = null;
            for (int k = 0; k < runners.size(); k++) {
                ModelRunner.Output out = runners.get(k).run(decoderInputs.get(k).complete(inputs), kept,
                        Set.of(output)).get(output);
                if (out.values() == null) {
                    throw new IncompatibleModelsException(file(), output, "is " + out.type().displayName()
                            + "; an evaluation reads floating-point outputs");
                }
                if (sum == null) {
                    sum = out;
                } else if (!Arrays.equals(sum.shape(), out.shape())) {
                    throw new IncompatibleModelsException(file(), output, "the ensemble's members give shapes "
                            + Arrays.toString(sum.shape()) + " and " + Arrays.toString(out.shape()));
                } else {
                    for (int i = 0; i < out.values().length; i++) {
                        sum.values()[i] += out.values()[i];
                    }
                }
            }
            if (runners.size() > 1) {
                for (int i = 0; i < sum.values().length; i++) {
                    sum.values()[i] /= runners.size();
                }
            }
            return sum;
        }

        @Override
        public void close() {
            if (kept != null) {
                kept.close();
            }
            if (owner) {
                runners.forEach(ModelRunner::close);
            }
        }
    }
}
