/**
 * The graph index: for each initializer, the node that consumes it, its role (MatMul weight stored
 * {@code [in, out]}, Gemm weight, conv kernel, bias, norm, embedding) and its layer number.
 */
package dev.graft.index;
