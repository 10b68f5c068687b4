/**
 * PLeaS (Nasery et al., CVPR 2025): partial matching of units to a chosen width, then per-layer least
 * squares toward the merged-space average; writes the resized graph.
 */
package dev.graft.pleas;
