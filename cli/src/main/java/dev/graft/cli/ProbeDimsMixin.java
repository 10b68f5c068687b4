package dev.graft.cli;

import dev.graft.verify.ProbeOptions;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --dim NAME=N}, for the commands that run a model on probe inputs: sizes of symbolic input dimensions by
 * name, over the rules of {@link dev.graft.verify.SymbolicDims} (a decoder's {@code past_sequence_length} is 3
 * unless given; an attention mask covers cache and new tokens).
 */
final class ProbeDimsMixin {
    @Option(names = "--dim", paramLabel = "NAME=N",
            description = "size of a symbolic input dimension in probe runs, by name (repeatable), e.g. "
                    + "--dim past_sequence_length=0")
    Map<String, Long> dims = new LinkedHashMap<>();

    /** {@code options} with the sizes given. */
    ProbeOptions apply(ProbeOptions options) {
        return options.withDims(dims);
    }
}
