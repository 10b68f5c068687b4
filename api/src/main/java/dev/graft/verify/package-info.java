/**
 * Running models in ONNX Runtime: sessions over probe or calibration inputs, and the verifier that
 * compares a written model's outputs with a reference's.
 */
package dev.graft.verify;
