package dev.graft.exec;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.graft.onnx.OnnxModel;
import dev.graft.onnx.OutputTensor;
import dev.graft.onnx.Weight;
import dev.graft.onnx.WriteOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What an operation writes, described before anything is computed: the template graph (already edited: nodes,
 * inputs and outputs added or removed), one {@link TensorJob} per main-graph initializer in output order (a lazy
 * computation that declares the bytes it holds, or a copy), the provenance (operation name, parameters, and the
 * models whose hashes are recorded), the layout, and an optional check of the written files. {@link Rewriter}
 * carries it out; every Graft operation that writes a model builds one of these and nothing else.
 *
 * @param operation  provenance operation, e.g. {@code merge}, {@code lora-apply}
 * @param template   the output's graph; its initializers are replaced by the jobs' tensors
 * @param jobs       the output initializers, in order
 * @param parameters provenance parameters, in order
 * @param inputs     models hashed (in the background, while the weights are written) for provenance
 * @param layout     inline, external or by size
 * @param sync       sync files to disk before moving them into place
 * @param check      run on the committed model file; if it throws, the written files are removed (null: none)
 * @param companions a model whose companion files (configs, tokenizer) are copied beside the output (null: none;
 *                   see {@link dev.graft.onnx.CompanionFiles})
 */
public record RewritePlan(String operation, ModelProto template, List<TensorJob> jobs, Map<String, String> parameters,
                          List<OnnxModel> inputs, WriteOptions.Layout layout, boolean sync, Consumer<Path> check,
                          Path companions) {
    public RewritePlan {
        Objects.requireNonNull(operation, "operation");
        Objects.requireNonNull(template, "template");
        jobs = List.copyOf(jobs);
        parameters = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(parameters));
        inputs = List.copyOf(inputs);
        Objects.requireNonNull(layout, "layout");
    }

    /** A plan for {@code operation} writing {@code template}'s graph. */
    public static Builder of(String operation, ModelProto template) {
        return new Builder(operation, template);
    }

    /** The output tensors, in order. */
    public List<OutputTensor> tensors() {
        return jobs.stream().map(TensorJob::tensor).toList();
    }

    /** Collects a plan's parts; {@link #build()} freezes them. */
    public static final class Builder {
        private final String operation;
        private final ModelProto template;
        private final List<TensorJob> jobs = new ArrayList<>();
        private final Map<String, String> parameters = new LinkedHashMap<>();
        private final List<OnnxModel> inputs = new ArrayList<>();
        private WriteOptions.Layout layout = WriteOptions.Layout.AUTO;
        private boolean sync = true;
        private Consumer<Path> check;
        private Path companions;

        private Builder(String operation, ModelProto template) {
            this.operation = operation;
            this.template = template;
        }

        /** A model whose hash provenance records (the models as the user gave them). */
        public Builder input(OnnxModel model) {
            inputs.add(Objects.requireNonNull(model));
            return this;
        }

        public Builder parameter(String name, String value) {
            parameters.put(name, value);
            return this;
        }

        public Builder parameters(Map<String, String> values) {
            parameters.putAll(values);
            return this;
        }

        /** The next output tensor. */
        public Builder add(TensorJob job) {
            jobs.add(Objects.requireNonNull(job));
            return this;
        }

        /** The next output tensor: {@code tensor}, computed holding at most {@code workingBytes}. */
        public Builder compute(OutputTensor tensor, long workingBytes) {
            return add(new TensorJob(tensor, workingBytes));
        }

        /** The next output tensor: a copy of {@code w}, bytes moved file to file. */
        public Builder copy(Weight w) {
            return add(TensorJob.passThrough(OutputTensor.copyOf(w)));
        }

        /** The next output tensor: {@code tensor}, with nothing to compute (copied or written verbatim). */
        public Builder passThrough(OutputTensor tensor) {
            return add(TensorJob.passThrough(tensor));
        }

        public Builder layout(WriteOptions.Layout l) {
            this.layout = Objects.requireNonNull(l);
            return this;
        }

        public Builder sync(boolean s) {
            this.sync = s;
            return this;
        }

        /** Checks the committed model; on failure the files are removed and the failure rethrown. */
        public Builder check(Consumer<Path> c) {
            this.check = c;
            return this;
        }

        /** Copy {@code model}'s companion files (configs, tokenizer) beside the output. */
        public Builder companionsOf(Path model) {
            this.companions = model;
            return this;
        }

        public RewritePlan build() {
            return new RewritePlan(operation, template, jobs, parameters, inputs, layout, sync, check, companions);
        }
    }
}
