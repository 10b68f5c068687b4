package dev.graft.plan;

import java.nio.file.Path;
import java.util.Map;

/**
 * Brings a model's hidden units into a reference model's order before a merge, so that models trained from
 * different starts can be averaged unit by unit ({@code dev.graft.align.Alignment} in {@code graft-merge}
 * implements it by weight or activation matching). A merge with an aligner aligns every model but the
 * reference into a temporary file first.
 */
public interface ModelAligner {
    /** An aligned copy of a model, and what the alignment did (for the merge report). */
    record Aligned(Path file, Map<String, Object> report) {
    }

    /** Writes {@code model} aligned to {@code reference} to {@code target}. */
    Aligned align(Path model, Path reference, Path target);

    /** A short description for provenance, e.g. {@code weight matching, seed 0}. */
    String describe();
}
