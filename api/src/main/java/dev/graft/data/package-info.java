/**
 * Calibration data: {@code .npy} arrays, text read as strict UTF-8 and tokenized, in-memory batches;
 * {@link dev.graft.data.CalibrationSpec} is the one description of where it comes from, shared by the CLI,
 * recipes and the API.
 */
package dev.graft.data;
