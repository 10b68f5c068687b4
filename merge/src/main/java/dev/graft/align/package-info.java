/**
 * Neuron alignment of models trained from different starts: permutation groups inferred from the graph,
 * weight matching and activation matching solved as assignment problems, and permuted models written out.
 */
package dev.graft.align;
