/**
 * Data-aware merging by regression: {@link dev.graft.regmean.RegMean} merges each dense layer so that it maps
 * every model's own inputs as closely as possible to what that model's layer gave.
 */
package dev.graft.regmean;
