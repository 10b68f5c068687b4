/**
 * Dense matrix products run in ONNX Runtime, for the large GEMMs of alignment and LoRA work.
 */
package dev.graft.linalg;
