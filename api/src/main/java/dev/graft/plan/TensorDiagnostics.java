package dev.graft.plan;

import java.util.List;

/**
 * Why a merge of one tensor came out as it did. For merges with a base: each task vector's L2 norm
 * {@code ‖θᵢ − θ₀‖}, the pairwise cosine similarities between task vectors, the sign-conflict rate (the
 * fraction of entries where two task vectors are non-zero with opposite signs: the interference TIES
 * resolves) and, per model, the fraction of entries where its task vector is outvoted: non-zero with the
 * opposite sign to the sum of all task vectors (the sign TIES elects, before trimming; those entries are left
 * out of TIES's disjoint mean); for sparsifying methods, the fraction of each task vector's entries set to
 * zero. Values that do not apply are null.
 */
public record TensorDiagnostics(String tensor, Integer layer, long size, List<Double> norms,
                                List<List<Double>> cosines, Double signConflict, List<Double> outvoted,
                                List<Double> trimmed) {
    /** The same, with each model's fraction of entries set to zero by sparsification (null entries: none). */
    public TensorDiagnostics withTrimmed(List<Double> fractions) {
        return new TensorDiagnostics(tensor, layer, size, norms, cosines, signConflict, outvoted, fractions);
    }

    /** Collects what a method reports while merging one tensor. */
    public static final class Recorder {
        private final Double[] trimmed;
        private final TaskVectorStats taskVectors;

        /** A recorder of trimmed shares only. */
        public Recorder(int models) {
            this(models, null);
        }

        /**
         * @param taskVectors where a method that {@linkplain MergeMethod#recordsTaskVectors records task vectors}
         *                    adds them, or null when no diagnostics are wanted
         */
        public Recorder(int models, TaskVectorStats taskVectors) {
            this.trimmed = new Double[models];
            this.taskVectors = taskVectors;
        }

        /** The accumulator for task vectors, or null when diagnostics are off. */
        public TaskVectorStats taskVectors() {
            return taskVectors;
        }

        /** Records the fraction of model {@code i}'s task vector that sparsification set to zero. */
        public void trimmed(int i, double fraction) {
            trimmed[i] = fraction;
        }

        public List<Double> trimmed() {
            return java.util.Arrays.asList(trimmed.clone());
        }
    }
}
