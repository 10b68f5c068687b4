/**
 * Evaluating merges on the user's data: classification accuracy, retrieval MRR, output similarity, linear
 * mode connectivity along the interpolation path, and SVG line plots of the results.
 */
package dev.graft.eval;
