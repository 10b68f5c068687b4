/**
 * Views and edits of a model's graph: affine layers (dense or convolution, with bias and a folded norm) and a
 * convolution's patches, the branch downstream of a value, and the edits rewrites make to a template graph.
 * With {@code dev.graft.index} (what each initializer is) and {@code dev.graft.onnx} (the format), the only code
 * that reads graph nodes.
 */
package dev.graft.graph;
