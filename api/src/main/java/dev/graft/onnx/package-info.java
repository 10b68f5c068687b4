/**
 * Reading and writing ONNX models: zero-copy memory-mapped reads with lazy tensor handles, external data
 * checked against path traversal, the streaming atomic writer, storage casts and provenance metadata.
 */
package dev.graft.onnx;
