/**
 * Element types and their codecs: float32, float16 and bfloat16 (round to nearest even), and the rest of
 * ONNX's types as far as Graft reads them.
 */
package dev.graft.tensor;
